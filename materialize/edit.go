package materialize

import (
	"errors"

	"github.com/rezup/rezup/recipe"
)

// ErrEditMode means an entry was built with a tool installed in edit mode
// (edit = true: pip install -e into a source tree): it is never published
// to the shared cache, since what it runs lives outside the entry, on
// this machine only.
var ErrEditMode = errors.New("built in edit mode")

// EditTools names the tools of r that install in edit mode (rez, then
// extensions, in recipe order); none means a build of r may be published.
func EditTools(r *recipe.Recipe) []string {
	if r == nil {
		return nil
	}
	var names []string
	if r.Rez.Edit {
		names = append(names, r.Rez.Name)
	}
	for _, ext := range r.Extensions {
		if ext.Edit {
			names = append(names, ext.Name)
		}
	}
	return names
}
