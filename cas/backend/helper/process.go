package helper

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

const (
	// closeTimeout is how long a helper gets to exit after its input
	// ended before it is killed: enough to cancel what it was doing.
	closeTimeout = 5 * time.Second
	// exitWait bounds the wait for a helper whose output ended to exit,
	// and for what it wrote to stderr to be read.
	exitWait = 2 * time.Second
)

// process is a helper process, its stdin and stdout pipes our own (their
// descriptors are close-on-exec: a command rezup execs does not inherit
// them, and a rezup that dies closes them, which ends the helper).
type process struct {
	cmd    *exec.Cmd
	stdin  *os.File // the write end
	stdout *os.File // the read end
	stderr *tail

	exited  chan struct{}
	waitErr error

	once     sync.Once
	closeErr error
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	p := &process{cmd: cmd, stdin: inW, stdout: outR, stderr: &tail{}, exited: make(chan struct{})}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, p.stderr
	// A child the helper started holding its stderr must not hold Wait.
	cmd.WaitDelay = exitWait
	err = cmd.Start()
	// The child has its own copies; ours would keep its input open and
	// hide the end of its output.
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) Read(b []byte) (int, error)  { return p.stdout.Read(b) }
func (p *process) Write(b []byte) (int, error) { return p.stdin.Write(b) }

// SetWriteDeadline bounds writes to the helper's input where the system
// has deadlines on pipes (not Windows).
func (p *process) SetWriteDeadline(t time.Time) error { return p.stdin.SetWriteDeadline(t) }

func (p *process) name() string { return p.cmd.Path }

func (p *process) close() error {
	p.once.Do(func() {
		p.stdin.Close() // the helper's input ends: it cancels what it does and exits
		t := time.NewTimer(closeTimeout)
		defer t.Stop()
		select {
		case <-p.exited:
		case <-t.C:
			// Kill fails only for a process already gone.
			_ = p.cmd.Process.Kill()
			<-p.exited
			p.closeErr = fmt.Errorf("%s did not exit within %v of the end of its input: killed", p.cmd.Path, closeTimeout)
		}
		p.stdout.Close()
	})
	return p.closeErr
}

func (p *process) kill() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill() // fails only for a process already gone
	}
	p.close()
}

// ended describes the end of a helper whose pipes failed with err (the
// end of its output, a broken pipe): it exited, or it is killed.
func (p *process) ended(err error) error {
	t := time.NewTimer(exitWait)
	defer t.Stop()
	msg := p.cmd.Path + " exited"
	select {
	case <-p.exited:
	case <-t.C:
		// Its pipes failed but it runs on: it is of no use any more.
		_ = p.cmd.Process.Kill()
		<-p.exited
		msg = fmt.Sprintf("lost the pipes to %s (%v): killed", p.cmd.Path, err)
	}
	if p.waitErr != nil {
		msg += " (" + p.waitErr.Error() + ")"
	}
	if line := p.stderr.lastLine(); line != "" {
		msg += ": " + line
	}
	return errors.New(msg)
}

// tail keeps the end of what a helper writes to stderr: its last line
// says why it failed.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tail) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
