//go:build unix && !linux

package objects

// syncTemps fsyncs each temp: there is no syncfs(2) here.
func syncTemps(_ string, temps []string) error { return fsyncEach(temps) }
