package materialize

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// Every test of this package fails loudly on a Hold dropped without
// Close: the launch path must close, or hand on, every hold it takes.
func TestMain(m *testing.M) {
	hook := func(name string) {
		panic(fmt.Sprintf("materialize: the hold on %s became unreachable without Close", name))
	}
	leakedHold.Store(&hook)
	os.Exit(testkit.Main(m))
}

// made is Materialize for tests that want the manifest and not the hold.
func (s *Store) made(ctx context.Context, req Request) (*Manifest, error) {
	h, err := s.Materialize(ctx, req)
	if err != nil {
		return nil, err
	}
	h.Close()
	return s.ReadManifest(req.Key)
}
