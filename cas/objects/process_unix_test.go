//go:build unix

package objects

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/rezup/rezup/cas"
)

// The tests here run this test binary again, as other processes putting
// objects into one store, or killed in the middle of a Put.

const childEnv = "REZUP_OBJECTS_TEST_CHILD"

// Several processes putting the same object at once (this test binary,
// run again) end with one object, right, and no temp.
func TestConcurrentPutProcesses(t *testing.T) {
	data := content(9, 1<<20)
	d := cas.DigestOf(data)
	if dir := os.Getenv(childEnv); dir != "" {
		// The child: say "ready" from inside Put (it found no object and
		// has its temp), wait for the parent's go (stdin closed), finish.
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, exec := range []bool{false, true} {
			ready := readyReader{r: bytes.NewReader(data)}
			if err := s.Put(d, exec, &ready); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	const n = 4
	var cmds []*exec.Cmd
	var stdins []io.WriteCloser
	var outs []*bufio.Reader
	for range n {
		cmd := exec.Command(exe, "-test.run=^TestConcurrentPutProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+s.Dir())
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, stdins, outs = append(cmds, cmd), append(stdins, in), append(outs, bufio.NewReader(out))
	}
	// Both objects, one at a time: every child is inside Put, past Has,
	// before any of them links.
	for range 2 {
		for i, out := range outs {
			line, err := out.ReadString('\n')
			if line != "ready\n" {
				t.Fatalf("child %d said %q, %v", i, line, err)
			}
		}
		for _, in := range stdins {
			if _, err := in.Write([]byte{0}); err != nil { // one byte: the child's go
				t.Fatal(err)
			}
		}
	}
	for _, in := range stdins {
		in.Close()
	}
	for i, cmd := range cmds {
		rest, _ := io.ReadAll(outs[i]) // the child's test output, for a failure
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, rest)
		}
	}
	checkOneObject(t, s, d, data)
}

const crashEnv = "REZUP_OBJECTS_TEST_CRASH"

// A Put killed in the middle (kill -9) leaves no object and one temp,
// which Temps finds and RemoveTemp removes: the store is as before.
func TestPutKilled(t *testing.T) {
	data := content(40, 1<<20)
	d := cas.DigestOf(data)
	if dir := os.Getenv(crashEnv); dir != "" {
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		// Half the content, then "ready", then wait to be killed.
		r := io.MultiReader(bytes.NewReader(data[:len(data)/2]), &readyReader{r: bytes.NewReader(data[len(data)/2:])})
		s.Put(d, false, r)
		t.Fatal("Put returned: the parent was to kill it")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	cmd := exec.Command(exe, "-test.run=^TestPutKilled$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+s.Dir())
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() // killed: its error is the kill

	if s.Has(d, false) || len(walkAll(t, s)) != 0 {
		t.Fatal("a killed Put left an object")
	}
	temps, err := s.Temps()
	if err != nil || len(temps) != 1 {
		t.Fatalf("Temps after a killed Put = %v, %v; want one", temps, err)
	}
	if temps[0].Size != int64(len(data)/2) {
		t.Errorf("the temp holds %d bytes, want %d", temps[0].Size, len(data)/2)
	}
	if err := s.RemoveTemp(temps[0]); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, s.Dir()); len(got) != 0 {
		t.Errorf("the store holds %v after the sweep", got)
	}
	put(t, s, data, false)
	if got := mustRead(t, s.path(d, false)); !bytes.Equal(got, data) {
		t.Error("Put after the crash: wrong content")
	}
}

// readyReader prints "ready" at its first read and reads one byte of go
// from stdin before giving the content.
type readyReader struct {
	r    io.Reader
	said bool
}

func (r *readyReader) Read(p []byte) (int, error) {
	if !r.said {
		r.said = true
		fmt.Println("ready")
		var b [1]byte
		if _, err := io.ReadFull(os.Stdin, b[:]); err != nil {
			return 0, err
		}
	}
	return r.r.Read(p)
}
