// Package launch owns what happens once a revision is ready to be used: the
// launch environment (the caller's environment, the recipe's [dotenv] files
// and [env], REZUP_CONTAINER, REZUP_USING_REMOTE and the production bin
// dirs on PATH), shell detection and the prompt, and running the command
// or shell with its exit code.
//
// Use it in this order: CheckNested, Environ, then either Exec (or Start for
// --no-wait) for a command, or Shell, Interactive and Exec for a shell.
// RunInit, the site-customize script ([init] script), runs before all of
// it, and only when a script is set: its environment becomes the caller's.
//
// Guarantees:
//   - The launch path is cheap: no python, no hashing, no tree walks. It
//     reads the dotenv files the recipe names, stats PATH entries and, on
//     Linux, a few /proc files.
//   - The in-use lock is handed to the launched process: on Unix its
//     descriptor survives exec (Exec) or is passed as an extra file
//     (Start), so the store entry stays in use for as long as the command
//     runs. On Windows, Exec waits for the command while holding it.
//   - On Unix, Exec replaces rezup, so the command's exit status and
//     signals are rezup's own. On Windows, Exec returns an *ExitError with
//     the command's code.
//
// Never: it builds, materializes or locks nothing itself, prints nothing,
// never reads the process environment (callers pass environ), and never
// exits the process.
package launch
