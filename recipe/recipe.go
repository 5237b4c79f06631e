package recipe

import "strconv"

// Recipe is a parsed recipe, merged over the built-in defaults. Every field
// has its default applied; nothing here is "unset" except where noted.
type Recipe struct {
	// File is the path the recipe was read from ("" for the defaults).
	File string

	Description string
	Schema      string

	Root   Root
	Dotenv Dotenv
	// Env is the [env] table, in file order (the order ${VAR} expansion
	// follows at launch, as in the Python rezup).
	Env []EnvVar

	Pip        Pip
	Rez        Tool
	Extensions []Tool // empty [[extension]] tables are dropped
	// Shared is the deprecated [shared] section; nil when absent or empty.
	Shared *Shared
	Init   Init
	Build  Build
	Cache  Cache
}

// Root is [root]. "" means unset: the seed's `false` and `""` both read as "".
type Root struct {
	Local  string
	Remote string
	// PythonCompatible says that Python rezup nodes still read the remote
	// root: `rezup add --remote` then refuses a recipe they would read
	// differently (see PythonDifferences), as with --strict. It is never a
	// build input, and the Python rezup ignores it.
	PythonCompatible bool
}

// EnvVar is one entry of [env].
type EnvVar struct {
	Name string
	// Value is what a launch sets, before ${VAR} expansion: the TOML value
	// (a number or boolean as Python's str() spells it, a list joined
	// with the path list separator) read as python-dotenv reads the line
	// `Name = value` the Python rezup wrote for it: quotes taken off, a
	// comment after white space dropped, blanks trimmed. Where
	// python-dotenv cannot read that line as this one entry (a line break,
	// an unterminated quote, a name it reads otherwise), it is the TOML
	// value itself; PythonDifferences reports those.
	Value string
}

// Dotenv is [dotenv]: files loaded in order when a revision is used.
// Shared holds the top-level string keys; Platform holds the
// [dotenv.linux], [dotenv.darwin] and [dotenv.windows] tables.
type Dotenv struct {
	Shared   map[string]string
	Platform map[string]map[string]string
}

// Pip is [pip]: extra install options and environment for every pip run.
type Pip struct {
	Options []string
	Env     map[string]string
}

// Tool is [rez] or one [[extension]].
type Tool struct {
	Name string
	// URL is what pip installs; defaults to Name.
	URL  string
	Edit bool
	// Flags are the interpreter flags of the production entry points.
	// Defaults to ["-E"]; an explicit empty list means no flag at all.
	Flags     []string
	Isolation bool
	// Python is the interpreter spec: "" (python3), a version ("3.11") or
	// a path. A TOML number is accepted and formatted ("2.7").
	Python string
	// Lib lists extra pip requirements installed into the same venv.
	Lib []string
}

// Shared is the deprecated [shared] section.
type Shared struct {
	Name     string
	Requires []string
}

// Init is [init]: the site-customize script (only honoured in ~/rezup.toml).
type Init struct {
	Script string
}

// Build is [build]: Salt forces a new key for an unchanged recipe.
type Build struct {
	Salt string
}

// Cache is [cache]. None of it is a build input.
type Cache struct {
	// URL is the shared cache ("" means none from the recipe).
	URL string
	// TrustedKeys are the public keys ("<name>:<base64>", checked) whose
	// signed cache entries this machine uses; with any, unsigned entries
	// and entries of other keys are misses. nil means none.
	TrustedKeys []string
	// SecretKeyFile is the file of the key that signs what this machine
	// publishes, as written ("~" unexpanded); "" means none. Only a
	// recipe of the user's own should be read for it, never a revision's
	// frozen recipe.
	SecretKeyFile string
	// RequireSigned launches only remote revisions that a trusted key
	// signed. Like the keys, only the user's own recipe sets it.
	RequireSigned bool
	// Format is what a build this machine publishes to the cache holds:
	// "archive" (one archive, which every rezup fetches), "files" (an
	// index and packs of file contents: nodes fetch only what they lack;
	// rezup before issue 22 cannot fetch it) or "both". "" means unset
	// (the default is "archive").
	Format string
}

// CacheFormats are the values [cache] format may take.
var CacheFormats = []string{"archive", "files", "both"}

// Warning is something a user should fix but that does not stop rezup.
type Warning struct {
	File string
	Line int
	Msg  string
	// Ignored marks a problem the strict parse refuses, which the frozen
	// parse ignored (see ParseOptions): what launches differs from what
	// the recipe says, so a launch shows it.
	Ignored bool
}

// Error is a recipe problem with its location. Line is 0 when unknown.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	case e.File != "":
		return e.File + ": " + e.Msg
	}
	return e.Msg
}

func (w Warning) String() string {
	return (&Error{File: w.File, Line: w.Line, Msg: w.Msg}).Error()
}
