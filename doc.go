// Package rezup holds no code: the architecture is the set of top-level
// packages (recipe, cas, materialize, launch, gc, cmd/rezup). See
// README.md and arch_test.go, which keeps their imports pointing one way.
package rezup
