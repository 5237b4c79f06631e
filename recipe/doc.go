// Package recipe owns the recipe: parsing, validating and merging a recipe
// TOML file (~/rezup.toml, ~/rezup.NAME.toml) over the built-in defaults,
// the recipe file naming and the container-name rule, and the canonical
// build-input bytes that the key is computed from.
//
// Use [Load] (or [Parse] for bytes already read) to get a [*Recipe] with
// every default applied, plus warnings for values that parse but probably
// do not mean what the user wrote. Every recipe problem is an [*Error] that
// carries the file and line and says what to do. That strict parse is for
// recipes being added; a revision's frozen recipe, which must never stop a
// launch, is read with [LoadFrozen] (or [ParseFrozen]): the same checks,
// with every problem but text that is not TOML reported as a [Warning] and
// the value it is about left at its default. [DefaultTOML] is the
// commented recipe `rezup add` writes when a container has none; it parses
// to exactly [Default].
//
// [BuildInputs] returns the bytes the key is computed from (the hash
// itself belongs to package cas). Those bytes are golden: changing what
// they hold, or how it is spelled, changes every key and is a breaking
// change.
//
// The package is strict, but accepts the loosely typed values that recipes
// written for the Python rezup use: `false` for an unset root, a number for
// python, `flags = []`, an empty [[extension]] table, and in [env] numbers
// and booleans (spelled as Python's str() spells them) and lists (joined
// with the path list separator).
//
// [env] means what it meant to the Python rezup, which wrote it out with
// configparser and read it back with python-dotenv: Recipe.Env keeps the
// file order and holds each value as python-dotenv reads it ([EnvVar]).
// [ParseDotenv] is python-dotenv's syntax, for the .env files [dotenv]
// names. [PythonDifferences] says what the Python rezup 2.6 reads
// differently in a recipe, or cannot read, for `rezup add --remote`.
//
// It never touches the filesystem except to read the file [Load] is asked
// for, never reads the environment, never prints. It imports nothing of
// rezup's but internal/fsx and internal/pyid, the interpreter identity the
// key inputs hold.
package recipe
