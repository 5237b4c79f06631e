package recipe

import (
	"bytes"
	_ "embed"
)

// Schemas rezup reads. SchemaV2 is the one it writes.
const (
	SchemaV1 = "rezup-recipe:1.0"
	SchemaV2 = "rezup-recipe:2.0"
)

//go:embed default.toml
var defaultTOML []byte

// DefaultTOML returns the commented recipe that `rezup add` writes for a
// container that has none. It parses to exactly [Default].
func DefaultTOML() []byte { return bytes.Clone(defaultTOML) }

// Default returns the built-in recipe that every recipe file is merged
// over. Slices and maps are never nil, as in a parsed recipe.
func Default() *Recipe {
	return &Recipe{
		Description: "Rez launching environment recipe",
		Schema:      SchemaV2,
		Dotenv: Dotenv{
			Shared: map[string]string{},
			Platform: map[string]map[string]string{
				"linux":   {},
				"darwin":  {},
				"windows": {},
			},
		},
		Env: []EnvVar{},
		Pip: Pip{
			Options: []string{"--disable-pip-version-check"},
			Env:     map[string]string{},
		},
		Rez:        Tool{Name: "rez", URL: "rez>=2.83", Flags: []string{"-E"}, Lib: []string{}},
		Extensions: []Tool{},
	}
}
