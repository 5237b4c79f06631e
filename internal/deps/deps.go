// Package deps pins the chosen dependencies while packages are written in
// parallel. Temporary: removed once every dependency is imported for real.
package deps

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/gofrs/flock"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/spf13/cobra"
	_ "github.com/zeebo/blake3"
	_ "golang.org/x/sys/unix"
)
