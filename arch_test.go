package rezup

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/rezup/rezup"

// TestImportsPointDown keeps the architecture of DESIGN.md: each package
// imports only the rezup packages listed for it.
func TestImportsPointDown(t *testing.T) {
	allowed := map[string][]string{
		"recipe":           {"internal/fsx"},
		"cas":              {"internal/fsx"},
		"internal/fsx":     {},
		"internal/pyenv":   {"internal/fsx"},
		"materialize":      {"recipe", "cas", "internal/fsx", "internal/pyenv"},
		"launch":           {"recipe", "materialize", "cas", "internal/fsx", "internal/pyenv"},
		"gc":               {"materialize", "cas", "recipe", "internal/fsx", "internal/pyenv"},
		"internal/testkit": {"internal/fsx"},
	}
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+"/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			rel, ours := strings.CutPrefix(dep, module+"/")
			if !ours || rel == pkg {
				continue
			}
			if !contains(ok, rel) {
				t.Errorf("%s imports %s; DESIGN.md allows only %v", pkg, rel, ok)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
