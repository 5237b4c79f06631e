//go:build !unix

package files

import "time"

// cpuTime is not measured here.
func cpuTime() time.Duration { return -1 }
