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
