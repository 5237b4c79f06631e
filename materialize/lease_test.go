package materialize

import (
	"fmt"
	"os"
	"testing"
)

// Every test of this package fails loudly on a Lease dropped without
// Release: the launch path must release, or hand on, every lease it takes.
func TestMain(m *testing.M) {
	hook := func(name string) {
		panic(fmt.Sprintf("materialize: the lease on %s became unreachable without Release", name))
	}
	leakedLease.Store(&hook)
	os.Exit(m.Run())
}
