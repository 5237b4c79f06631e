package pyenv

import (
	"os"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
