package materialize

import (
	"context"
	"os"
	"path/filepath"
	"sync"

	"github.com/rezup/rezup/internal/pyenv"
)

// Spare venvs. Creating a venv does not depend on what the lock holds,
// only on the interpreter, so Lock starts making the venvs a build would
// make while pip resolves, each in a scratch dir of .tmp (spareScratch).
// The build that follows takes them (createVenv: renamed into its staging
// dir and relocated there, which costs milliseconds); whatever no build
// took is removed when materialize returns. A crash leaves a scratch dir,
// which gc removes once it is older than its grace.

// spareScratch is the name prefix of a spare venv's scratch dir in .tmp.
const spareScratch = "venv-"

// spares are the venvs being made ahead of a build, shared by a Store and
// its copies.
type spares struct {
	mu sync.Mutex
	m  map[string]*spare // by spareID
}

type spare struct {
	scratch string // .tmp/venv-*: removed once taken (empty) or dropped
	cancel  context.CancelFunc
	done    chan struct{}
	v       pyenv.Venv // after done: the venv, in scratch
	err     error      // after done
}

func spareID(venv string, py pyenv.Interpreter) string { return venv + "\x00" + py.Executable }

// prepareVenvs starts making the venvs a build of p makes: rez's, and
// each isolated extension's. A venv already being made is not made
// twice. Failures are not reported here: createVenv makes the venv
// itself then, and says why it fails.
func (s *Store) prepareVenvs(ctx context.Context, p *Plan) {
	r := p.Recipe
	venvs := map[string]string{"rez": r.Rez.Python}
	for _, ext := range r.Extensions {
		if ext.Isolation {
			venvs[ext.Name] = ext.Python
		}
	}
	for name, spec := range venvs {
		py, ok := p.Interps[spec]
		if !ok {
			continue
		}
		id := spareID(name, py)
		s.spares.mu.Lock()
		_, busy := s.spares.m[id]
		s.spares.mu.Unlock()
		if busy {
			continue
		}
		scratch, err := os.MkdirTemp(s.opt.Root.TmpDir(), spareScratch)
		if err != nil {
			continue // createVenv makes it, and says what is wrong with .tmp
		}
		sctx, cancel := context.WithCancel(ctx)
		sp := &spare{scratch: scratch, cancel: cancel, done: make(chan struct{})}
		s.spares.mu.Lock()
		if s.spares.m == nil {
			s.spares.m = map[string]*spare{}
		}
		s.spares.m[id] = sp
		s.spares.mu.Unlock()
		go func() {
			defer close(sp.done)
			opt := pyenv.CreateOptions{WithoutPip: true, PipCache: s.pipCache()}
			if pip, err := s.basePip(sctx, py); err == nil {
				opt.BasePip = &pip
			}
			// No log: a failure is made again, and logged, by createVenv.
			sp.v, sp.err = pyenv.Create(sctx, py, filepath.Join(scratch, name), s.opt.Environ, nil, opt)
		}()
	}
}

// takeSpare moves the spare venv for venv and py, once made, to dir (a
// path in a staging dir, whose parent exists), relocated there. false:
// there is none, or making it failed, or moving it did; the caller makes
// the venv itself.
func (s *Store) takeSpare(ctx context.Context, venv string, py pyenv.Interpreter, dir string) (pyenv.Venv, bool) {
	id := spareID(venv, py)
	s.spares.mu.Lock()
	sp, ok := s.spares.m[id]
	delete(s.spares.m, id)
	s.spares.mu.Unlock()
	if !ok {
		return pyenv.Venv{}, false
	}
	defer os.RemoveAll(sp.scratch) // best effort: empty once the venv moved
	defer sp.cancel()
	select {
	case <-sp.done:
	case <-ctx.Done():
		sp.cancel()
		<-sp.done
		return pyenv.Venv{}, false
	}
	if sp.err != nil {
		s.opt.Reporter.Debugf("the venv made ahead for %s failed (%v): making it again", venv, sp.err)
		return pyenv.Venv{}, false
	}
	v, err := sp.v.MoveTo(dir)
	if err != nil {
		s.opt.Reporter.Debugf("moving the venv made ahead for %s: %v: making it again", venv, err)
		return pyenv.Venv{}, false
	}
	return v, true
}

// dropSpares stops making the spare venvs no build took and removes
// them (once their python has stopped writing there).
func (s *Store) dropSpares() {
	s.spares.mu.Lock()
	m := s.spares.m
	s.spares.m = nil
	s.spares.mu.Unlock()
	for _, sp := range m {
		sp.cancel()
		<-sp.done
		_ = os.RemoveAll(sp.scratch) // best effort: gc removes what stays
	}
}
