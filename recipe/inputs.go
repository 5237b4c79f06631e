package recipe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/rezup/rezup/internal/pyid"
)

// KeySchema names the layout of the build inputs. Bump it, and update the
// golden file, whenever BuildInputs changes what it writes.
const KeySchema = "rezup-key/1"

// The build inputs, in the order they are written. encoding/json writes
// struct fields in declaration order and map keys sorted, so the bytes are
// canonical. Renaming or reordering anything here changes every key.
type buildInputs struct {
	Schema       string             `json:"schema"`
	Rez          toolInput          `json:"rez"`
	Extensions   []toolInput        `json:"extensions"`
	Shared       *sharedInput       `json:"shared"`
	Pip          pipInput           `json:"pip"`
	Salt         string             `json:"salt"`
	Interpreters map[string]pyid.ID `json:"interpreters"`
}

type toolInput struct {
	Name      string   `json:"name"`
	URL       string   `json:"url"`
	Edit      bool     `json:"edit"`
	Flags     []string `json:"flags"`
	Isolation bool     `json:"isolation"`
	Python    string   `json:"python"`
	Lib       []string `json:"lib"`
}

type sharedInput struct {
	Name     string   `json:"name"`
	Requires []string `json:"requires"`
}

type pipInput struct {
	Options []string          `json:"options"`
	Env     map[string]string `json:"env"`
}

// BuildInputs returns the canonical bytes the key of r is computed from:
// compact JSON of the key schema, [rez] and every [[extension]] in order
// with their defaults applied, [shared], [pip] options and env, [build]
// salt, and the identity of every interpreter the build uses.
//
// interps maps each python spec of [Recipe.PythonSpecs] ("" for the
// default python) to the identity of the interpreter it resolves to; a
// missing spec is an error, and entries for other specs are ignored.
// description, [root], [env], [dotenv], [init] and [cache] are not inputs.
func BuildInputs(r *Recipe, interps map[string]pyid.ID) ([]byte, error) {
	if r == nil {
		return nil, errors.New("build inputs: no recipe")
	}
	in := buildInputs{
		Schema:       KeySchema,
		Rez:          r.Rez.input(true),
		Extensions:   make([]toolInput, 0, len(r.Extensions)),
		Pip:          pipInput{Options: orEmpty(r.Pip.Options), Env: r.Pip.Env},
		Salt:         r.Build.Salt,
		Interpreters: map[string]pyid.ID{},
	}
	in.Rez.Isolation = false // rez always has a venv of its own; Parse warns
	for _, ext := range r.Extensions {
		in.Extensions = append(in.Extensions, ext.input(ext.Isolation))
	}
	if in.Pip.Env == nil {
		in.Pip.Env = map[string]string{}
	}
	if r.Shared != nil && r.Shared.Name != "" {
		in.Shared = &sharedInput{Name: r.Shared.Name, Requires: orEmpty(r.Shared.Requires)}
	}
	for _, spec := range r.PythonSpecs() {
		id, ok := interps[spec]
		if !ok {
			if spec == "" {
				return nil, errors.New("build inputs: no interpreter identity for the default python")
			}
			return nil, fmt.Errorf("build inputs: no interpreter identity for python %q", spec)
		}
		in.Interpreters[spec] = id
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "rez>=2.83" readable; still canonical
	if err := enc.Encode(in); err != nil {
		return nil, fmt.Errorf("build inputs: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// input applies the defaults a hand-built Tool may lack: url is the name
// and nil flags are ["-E"]. ownVenv is false for a non-isolated extension,
// whose python is dropped: it installs into the rez venv, whose python
// decides.
func (t Tool) input(ownVenv bool) toolInput {
	in := toolInput{
		Name:      t.Name,
		URL:       t.URL,
		Edit:      t.Edit,
		Flags:     t.Flags,
		Isolation: t.Isolation,
		Python:    t.Python,
		Lib:       orEmpty(t.Lib),
	}
	if in.URL == "" {
		in.URL = in.Name
	}
	if in.Flags == nil {
		in.Flags = []string{"-E"}
	}
	if !ownVenv {
		in.Python = ""
	}
	return in
}

// PythonSpecs returns the sorted, distinct python specs a build of r
// needs an interpreter for: rez's ("" for the default python) and each
// isolated extension's. It is the set of keys BuildInputs wants.
func (r *Recipe) PythonSpecs() []string {
	specs := []string{r.Rez.Python}
	for _, ext := range r.Extensions {
		if ext.Isolation {
			specs = append(specs, ext.Python)
		}
	}
	slices.Sort(specs)
	return slices.Compact(specs)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// KeySchemaResolved names the layout of the locked build inputs (see
// ResolvedBuildInputs). A revision with a lock has a key of this schema; one
// without keeps KeySchema's.
const KeySchemaResolved = "rezup-key/2-locked"

// lockedInputs are the build inputs of a locked build, in the order they
// are written. Requirement strings (url, lib, [shared] requires) and the
// [pip] options and env are not here: they count only through what they
// resolve to, the lock.
type lockedInputs struct {
	Schema       string             `json:"schema"`
	Rez          lockedTool         `json:"rez"`
	Extensions   []lockedTool       `json:"extensions"`
	Shared       string             `json:"shared"`
	Salt         string             `json:"salt"`
	Interpreters map[string]pyid.ID `json:"interpreters"`
	Lock         json.RawMessage    `json:"lock"`
}

// lockedTool is what of a tool decides a locked build beyond its lock:
// its production entry points (the distribution they come from, their
// flags, the venv and python they run in) and whether it is editable.
type lockedTool struct {
	Name      string   `json:"name"`
	Edit      bool     `json:"edit"`
	Flags     []string `json:"flags"`
	Isolation bool     `json:"isolation"`
	Python    string   `json:"python"`
}

// ResolvedBuildInputs returns the canonical bytes the key of a locked build
// of r is computed from: compact JSON of KeySchemaResolved, the production
// entry-point options of [rez] and every [[extension]] in order (name,
// edit, flags, isolation, python), the [shared] name (the directory its
// libs go to), the [build] salt, the identity of every interpreter (as in
// BuildInputs), and lock, the lock's key bytes (pyresolve.Resolution.KeyBytes),
// which must be JSON.
//
// Requirement strings, [pip] options and [pip] env are left out: they
// change the key only through what they resolve to.
func ResolvedBuildInputs(r *Recipe, interps map[string]pyid.ID, lock []byte) ([]byte, error) {
	if r == nil {
		return nil, errors.New("locked build inputs: no recipe")
	}
	if !json.Valid(lock) {
		return nil, errors.New("locked build inputs: the lock's key bytes are not JSON")
	}
	plain, err := BuildInputs(r, interps)
	if err != nil {
		return nil, err
	}
	// BuildInputs applied the defaults and checked the interpreters: take
	// the tools from there, so both schemas read a tool the same way.
	var in buildInputs
	if err := json.Unmarshal(plain, &in); err != nil {
		return nil, fmt.Errorf("locked build inputs: %w", err)
	}
	out := lockedInputs{
		Schema:       KeySchemaResolved,
		Rez:          in.Rez.locked(),
		Extensions:   make([]lockedTool, 0, len(in.Extensions)),
		Salt:         in.Salt,
		Interpreters: in.Interpreters,
		Lock:         json.RawMessage(lock),
	}
	for _, ext := range in.Extensions {
		out.Extensions = append(out.Extensions, ext.locked())
	}
	if in.Shared != nil {
		out.Shared = in.Shared.Name
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("locked build inputs: %w", err)
	}
	// Encode compacts the raw lock; the trailing newline is not an input.
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (t toolInput) locked() lockedTool {
	return lockedTool{Name: t.Name, Edit: t.Edit, Flags: t.Flags, Isolation: t.Isolation, Python: t.Python}
}
