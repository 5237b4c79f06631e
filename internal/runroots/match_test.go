package runroots

import (
	"slices"
	"strings"
	"testing"
)

// What counts as a path under a watched directory, in each kind of text a
// process shows.
func TestText(t *testing.T) {
	m := newMatcher([]string{"/r", "/data/r/", "/r/.store", "relative"})
	if got := len(m.dirs); got != 2 {
		t.Fatalf("watched %q, want /data/r and /r (nested, duplicate and relative dropped)", m.dirs)
	}
	for _, tt := range []struct {
		name string
		kind *textKind
		text string
		want []string
	}{
		{"argv", &textKinds().arg, "/r/a/venv/bin/python\x00-E\x00/r/a/venv/bin/rez/rez\x00", []string{"/r/a/venv/bin/python", "/r/a/venv/bin/rez/rez"}},
		{"shell script", &textKinds().arg, "sh\x00-c\x00cd /r/b; exec '/r/c/bin/x'|y\x00", []string{"/r/b", "/r/c/bin/x"}},
		{"option", &textKinds().arg, "x\x00--prefix=/r/a\x00-I:/r/b\x00", []string{"/r/a", "/r/b"}},
		{"the dir itself", &textKinds().arg, "ls\x00/r\x00", []string{"/r"}},
		{"inside another path", &textKinds().arg, "ls\x00/mnt/r/a\x00./r/b\x00x/r/c\x00", nil},
		{"a sibling", &textKinds().arg, "ls\x00/r2/a\x00/r.old\x00/data/rr\x00", nil},
		{"resolved form", &textKinds().arg, "x\x00/data/r/.store/k/venv\x00", []string{"/data/r/.store/k/venv"}},
		{"PATH", &textKinds().list, "/usr/bin:/r/a/venv/rez/bin/rez:/bin", []string{"/r/a/venv/rez/bin/rez"}},
		{"PATH first and last", &textKinds().list, "/r/a/bin:/r/b/bin", []string{"/r/a/bin", "/r/b/bin"}},
		{"PATH inside another", &textKinds().list, "/opt/r/a:/x/r", nil},
		{"maps", &textKinds().maps, "7f00-7f01 r-xp 00000000 08:01 1234   /usr/lib/libc.so.6\n" +
			"7f01-7f02 r-xp 00000000 08:01 99     /r/.store/k/venv/lib/x.cpython-311.so\n" +
			"7f02-7f03 r--p 00000000 08:01 98     /r/k with space/y.so (deleted)\n" +
			"7f03-7f04 rw-p 00000000 00:00 0      [heap]\n",
			[]string{"/r/.store/k/venv/lib/x.cpython-311.so", "/r/k with space/y.so"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			m.text([]byte(tt.text), tt.kind, func(p []byte) { got = append(got, string(p)) })
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("found %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLink(t *testing.T) {
	m := newMatcher([]string{"/r"})
	for link, want := range map[string]string{
		"/r/.store/k/venv":        "/r/.store/k/venv",
		"/r":                      "/r",
		"/r/x.so (deleted)":       "/r/x.so",
		"/r2/x":                   "",
		"/usr/bin/python3.11":     "",
		"socket:[1234]":           "",
		"anon_inode:[eventpoll]":  "",
		"/mnt/r/.store/k/venv/py": "",
	} {
		p, ok := m.link([]byte(link))
		if ok != (want != "") || string(p) != want {
			t.Errorf("link %q: %q %v, want %q", link, p, ok, want)
		}
	}
}

// Users answers for a directory and what is under it, never for a sibling
// that sorts between them.
func TestUsers(t *testing.T) {
	s := &Snapshot{uses: []Use{
		{PID: 9, Via: ViaCwd, Path: "/r/.store/k/venv"},
		{PID: 3, Via: ViaMaps, Path: "/r/.store/k/venv/lib/x.so"},
		{PID: 3, Via: ViaCmdline, Path: "/r/.store/k/venv/bin/python"},
		{PID: 4, Via: ViaCwd, Path: "/r/.store/k-x"},
		{PID: 5, Via: ViaFD, Path: "/r/.store/k"},
		{PID: 6, Via: ViaFD, Path: "/r/.store/k.lock"},
		{PID: 7, Via: ViaFD, Path: "/r/.store/j/venv"},
	}}
	sortUses(s.uses)
	var pids []int
	for _, u := range s.Users("/r/.store/k/") {
		pids = append(pids, u.PID)
	}
	if !slices.Equal(pids, []int{3, 5, 9}) {
		t.Errorf("users of k: %v, want 3, 5, 9", pids)
	}
	if u := s.Users("/r/.store/j"); len(u) != 1 || u[0].String() != "pid 7 (?, fd /r/.store/j/venv)" {
		t.Errorf("users of j: %v", u)
	}
	if u := s.Users("/r/.store/none"); u != nil {
		t.Errorf("users of a dir nobody uses: %v", u)
	}
	if u := (*Snapshot)(nil).Users("/r"); u != nil {
		t.Errorf("a nil snapshot has users %v", u)
	}
}

func TestEnvValue(t *testing.T) {
	env := []byte("HOME=/root\x00PATHX=/no\x00PATH=/r/bin:/bin\x00PWD=/r\x00")
	for name, want := range map[string]string{"PATH": "/r/bin:/bin", "PWD": "/r", "HOME": "/root", "PAT": "", "NONE": ""} {
		v, ok := envValue(env, name)
		if string(v) != want || ok != (want != "") {
			t.Errorf("%s: %q %v, want %q", name, v, ok, want)
		}
	}
}

// The matcher never panics, and what it finds is under a watched dir.
func FuzzText(f *testing.F) {
	f.Add([]byte("sh\x00-c\x00cd /r/b; /r/c\x00"))
	f.Add([]byte("/r"))
	f.Add([]byte("7f00 r-xp 0 0 0 /r/x.so (deleted)\n"))
	m := newMatcher([]string{"/r", "/"})
	m2 := newMatcher([]string{"/r/s"})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, k := range []*textKind{&textKinds().arg, &textKinds().list, &textKinds().maps} {
			for _, mm := range []matcher{m, m2} {
				mm.text(b, k, func(p []byte) {
					if !strings.HasPrefix(string(p), "/") {
						t.Errorf("found %q, not a path", p)
					}
				})
				mm.link(b)
			}
		}
	})
}
