package materialize

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
)

// UnmarshalJSON reads revision.json. A "key" or "remote_key" that is
// empty or not a key (a hand edit, another tool) reads as the zero key, so
// the revision stays readable and is treated as one without a key, rather
// than being passed over as corrupt.
//
// Every launch reads a revision.json, so it is read token by token, as
// encoding/json would decode it into Meta's fields (names matched without
// case, the last of a name winning, null leaving a field as it is, other
// names skipped whatever they hold, a value of the wrong type an error)
// but without reflection: building the decoders of a struct type on its
// first use in a process cost a warm launch about a twentieth of its
// CPU. The pin, when there is one, is decoded by encoding/json.
// TestMetaDecodesAsEncodingJSON holds the two to the same results.
func (m *Meta) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return trailing(dec) // null: nothing, as encoding/json
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("revision.json holds %s, not an object: rewrite it, or remove the revision", jsonKind(tok))
	}
	var key, remoteKey string
	var f Meta
	fields := []metaField{
		{name: "key", str: &key}, {name: "remote_key", str: &remoteKey}, {name: "rezup_version", str: &f.RezupVersion},
		{name: "creator", str: &f.Creator}, {name: "hostname", str: &f.Hostname}, {name: "revision_path", str: &f.RevisionPath},
		{name: "rez_version", str: &f.RezVersion}, {name: "venvs", list: &f.Venvs}, {name: "signatures", list: &f.Signatures},
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		i := slices.IndexFunc(fields, func(fd metaField) bool { return strings.EqualFold(name, fd.name) })
		switch {
		case i >= 0 && fields[i].str != nil:
			err = jsonString(dec, name, fields[i].str)
		case i >= 0:
			err = jsonStrings(dec, name, fields[i].list)
		case strings.EqualFold(name, "archive"):
			var pin *cache.Entry // null: none
			if err = dec.Decode(&pin); err != nil {
				err = fmt.Errorf("its archive pin: %w", err)
			}
			f.Archive = pin
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return err
	}
	if err := trailing(dec); err != nil {
		return err
	}
	// A malformed key is a key this revision does not have: ParseKey
	// returns the zero key with its error.
	f.Key, _ = cas.ParseKey(key)
	f.RemoteKey, _ = cas.ParseKey(remoteKey)
	f.keyed = key != ""
	*m = f
	return nil
}

// jsonKind names the kind of JSON value tok starts, never the value: a
// string read from the file could hold a newline, and an error is one
// line.
func jsonKind(tok json.Token) string {
	switch tok.(type) {
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	if tok == json.Delim('[') {
		return "an array"
	}
	return "an object"
}

// metaField is a field of revision.json read token by token: a string
// (str) or an array of strings (list).
type metaField struct {
	name string
	str  *string
	list *[]string
}

// trailing fails when dec has more than white space after the value.
func trailing(dec *json.Decoder) error {
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("revision.json: data after its object")
	}
	return nil
}

// jsonString reads the string value of field name into s; null leaves s
// as it is.
func jsonString(dec *json.Decoder, name string, s *string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case string:
		*s = v
	case nil:
	default:
		return fmt.Errorf("revision.json: %q is %s, not a string", name, jsonKind(tok))
	}
	return nil
}

// jsonStrings reads the array of strings of field name into list; null
// makes it nil, a null element "".
func jsonStrings(dec *json.Decoder, name string, list *[]string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		*list = nil
		return nil
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("revision.json: %q is %s, not an array of strings", name, jsonKind(tok))
	}
	l := []string{}
	for dec.More() {
		var s string
		if err := jsonString(dec, name, &s); err != nil {
			return err
		}
		l = append(l, s)
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return err
	}
	*list = l
	return nil
}
