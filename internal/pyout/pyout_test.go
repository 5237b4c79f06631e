package pyout

import (
	"slices"
	"testing"
)

func TestLines(t *testing.T) {
	out := "Collecting x\r\n\n" +
		"Traceback (most recent call last):\n" +
		"  File \"a.py\", line 1, in <module>\n" +
		"    f()\n" +
		"ValueError: bad\n" +
		"ERROR: failed\n"
	var frames, exceptions, texts []string
	for _, l := range Lines(out) {
		texts = append(texts, l.Text)
		if l.Frame {
			frames = append(frames, l.Text)
		}
		if l.Exception {
			exceptions = append(exceptions, l.Text)
		}
	}
	if want := []string{"ValueError: bad"}; !slices.Equal(exceptions, want) {
		t.Errorf("exceptions %q, want %q", exceptions, want)
	}
	if len(frames) != 3 {
		t.Errorf("frames %q, want the header and two frames of the first traceback", frames)
	}
	if len(texts) != 6 || texts[0] != "Collecting x" || texts[5] != "ERROR: failed" {
		t.Errorf("lines %q", texts)
	}
}

// TestLinesIndented: a traceback pip prints indented under a failed build
// step ("╰─> [N lines of output]") is found by its own indentation.
func TestLinesIndented(t *testing.T) {
	out := "    Traceback (most recent call last):\n" +
		"      File \"setup.py\", line 3\n" +
		"    RuntimeError: no compiler\n" +
		"    note: this error originates from a subprocess\n"
	ls := Lines(out)
	if !ls[0].Frame || !ls[1].Frame || !ls[2].Exception || ls[3].Frame || ls[3].Exception {
		t.Errorf("lines %+v", ls)
	}
}
