package materialize

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/recipe"
)

func TestEditTools(t *testing.T) {
	tests := []struct {
		name string
		r    *recipe.Recipe
		want []string
	}{
		{"no recipe", nil, nil},
		{"nothing in edit mode", &recipe.Recipe{Rez: recipe.Tool{Name: "rez"}, Extensions: []recipe.Tool{{Name: "foo"}}}, nil},
		{"rez", &recipe.Recipe{Rez: recipe.Tool{Name: "rez", Edit: true}}, []string{"rez"}},
		{"rez and an extension, in recipe order", &recipe.Recipe{Rez: recipe.Tool{Name: "rez", Edit: true},
			Extensions: []recipe.Tool{{Name: "foo"}, {Name: "bar", Edit: true}}}, []string{"rez", "bar"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EditTools(tt.r)
			if len(got) != len(tt.want) {
				t.Fatalf("EditTools = %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("EditTools = %q, want %q", got, tt.want)
				}
			}
		})
	}
}

// Publish refuses an entry built in edit mode, and the cache stays empty.
func TestPublishRefusesEditMode(t *testing.T) {
	ctx := context.Background()
	sc := openCache(t, filepath.Join(t.TempDir(), "cache"))
	s := newStore(t, filepath.Join(t.TempDir(), "root"), sc, nil)
	k := cas.KeyOf([]byte("edit mode"))
	fakeEntry(t, s, k)
	m, err := s.ReadManifest(k)
	if err != nil {
		t.Fatal(err)
	}
	m.Editable = []string{"rez"}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Writable(t, s.opt.Root.EntryDir(k)) // a published build is read-only, but to root
	if err := fsx.WriteFile(manifestIn(s.opt.Root.EntryDir(k)), b, 0o666); err != nil {
		t.Fatal(err)
	}
	_, err = s.Publish(ctx, k)
	if !errors.Is(err, ErrEditMode) {
		t.Fatalf("Publish of an edit-mode entry: %v, want ErrEditMode", err)
	}
	if _, err := sc.Lookup(ctx, k); !errors.Is(err, cache.ErrNotFound) {
		t.Errorf("the cache has an entry for %s: %v", k, err)
	}
	if archives, err := sc.Archives(ctx, k); err != nil || len(archives) != 0 {
		t.Errorf("archives of %s in the cache: %v (%v)", k, archives, err)
	}
}
