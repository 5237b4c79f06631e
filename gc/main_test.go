package gc_test

import (
	"os"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// The accounts' tests copy this test binary into testkit's process dir:
// testkit.Main removes it when the tests end.
func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
