// Package testkit owns the fixtures rezup's tests are built on: fake
// wheels (a fake rez, fake extensions, small libraries), an offline wheel
// house, an editable source project, the rezup binary built once per test
// process, and CLI sessions that run it against a throwaway HOME.
//
// Everything here is real enough for real tools: WriteWheel output is a
// valid wheel that pip installs with --no-index --find-links, and the
// source project installs with pip install -e offline. Nothing is mocked
// at the process boundary.
//
// Which API to use:
//
//   - a pip-installable distribution: RezWheel, ExtensionWheel, LibWheel
//     or a Wheel literal, written with WriteWheel;
//   - a ready find-links directory: WheelHouse (once per process), or
//     WheelHouseAt for a directory you own (demos, the bench harness);
//   - an editable install: SourceProject;
//   - a command-level test: Binary, NewSession, RecipeTOML;
//   - a tool the test needs: RequireTool, Python;
//   - the tier of a test (tier.go): NeedsRoot, NeedsServer, SlowBuild,
//     SkipShort; Strict;
//   - a read-only build a test tampers with, or leaves in a t.TempDir, as
//     an ordinary user: Writable, WritableAtEnd.
//   - a process that uses a root while gc or drop looks (Linux): Job,
//     Sleeper.
//
// Guarantees: fixtures are deterministic (the same inputs give the same
// bytes), need no network, and a missing tool fails the test with a message
// naming the tool and how to install it; nothing skips silently. Only the
// fast tier (go test -short, outside strict mode) skips, one line saying
// why: what needs root, or a server or the Python rezup that is missing,
// and slow builds.
// Process-wide fixtures (the wheel house, built binaries) live in one
// temporary directory outside the repository; call Main from TestMain to
// remove it when the test binary exits.
//
// testkit is for tests and the benchmarks (cmd/rezup-bench) only: rezup
// itself never imports it (arch_test.go checks).
package testkit
