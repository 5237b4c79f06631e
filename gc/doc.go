// Package gc decides what of the local store, old revisions and the shared
// cache nothing uses any more, and removes it without ever removing what a
// running process uses.
//
// It plans first (Plan) and removes second (Execute), so that --dry-run is
// the plan printed. It asks materialize for paths and locks; it never
// composes store paths by hand. Not implemented yet: see issue 4.
package gc
