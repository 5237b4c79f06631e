package pyresolve

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fromReport on report shapes real pip does not produce offline here: a
// remote direct archive, the legacy hash field, a local archive without a
// hash, format "0", and what it refuses.
func TestFromReport(t *testing.T) {
	whl := filepath.Join(t.TempDir(), "local-1.0-py3-none-any.whl")
	if err := os.WriteFile(whl, []byte("wheel bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	// sha256 of "wheel bytes", computed by: printf 'wheel bytes' | sha256sum
	const whlSum = "67c0d8f7de19e30c2d5891030a0b37cbfcdd240852b53055c0b28290ad52290b"
	item := func(name, version string, direct bool, info string) string {
		return fmt.Sprintf(`{"download_info": %s, "is_direct": %v, "requested": true, "metadata": {"name": %q, "version": %q}}`, info, direct, name, version)
	}
	report := func(version string, items ...string) string {
		return fmt.Sprintf(`{"version": %q, "pip_version": "23.2.1", "install": [%s], "environment": {}}`, version, strings.Join(items, ","))
	}
	tests := []struct {
		name   string
		report string
		want   Source
		err    string
	}{
		{"remote direct archive", report("1", item("Remote_Pkg", "1.0", true,
			`{"url": "https://example.com/remote_pkg-1.0.tar.gz", "archive_info": {"hashes": {"sha256": "`+strings.ToUpper(hashA)+`"}}}`)),
			Source{Kind: KindURL, URL: "https://example.com/remote_pkg-1.0.tar.gz", SHA256: hashA}, ""},
		{"legacy hash field, format 0", report("0", item("remote-pkg", "1.0", false,
			`{"url": "https://example.com/remote_pkg-1.0.tar.gz", "archive_info": {"hash": "sha256=`+hashB+`"}}`)),
			Source{Kind: KindIndex, URL: "https://example.com/remote_pkg-1.0.tar.gz", SHA256: hashB}, ""},
		{"remote archive without hash", report("1", item("remote-pkg", "1.0", true,
			`{"url": "https://example.com/remote_pkg-1.0.tar.gz", "archive_info": {}}`)),
			Source{Kind: KindURL, URL: "https://example.com/remote_pkg-1.0.tar.gz"}, ""},
		{"local archive hashed here", report("1", item("remote-pkg", "1.0", true,
			`{"url": "file://`+filepath.ToSlash(whl)+`", "archive_info": {}}`)),
			Source{Kind: KindFile, URL: "file://" + filepath.ToSlash(whl), SHA256: whlSum}, ""},
		{"format 2", report("2"), Source{}, `format "2" of pip 23.2.1`},
		{"subdirectory", report("1", item("remote-pkg", "1.0", true,
			`{"url": "https://example.com/repo", "subdirectory": "pkg", "vcs_info": {"vcs": "git", "commit_id": "abc"}}`)),
			Source{}, "subdirectory are not supported"},
		{"no info", report("1", item("remote-pkg", "1.0", true, `{"url": "https://example.com/x"}`)), Source{}, "no archive, vcs or dir info"},
		{"missing local archive", report("1", item("remote-pkg", "1.0", true,
			`{"url": "file:///nonexistent/x.whl", "archive_info": {}}`)), Source{}, "hash /nonexistent/x.whl"},
		{"not json", "{", Source{}, "read pip's report"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := fromReport("rez", []byte(tt.report))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Dists) != 1 || v.Dists[0].Name != "remote-pkg" || v.Dists[0].Source != tt.want {
				t.Fatalf("dists = %+v\nwant source %+v", v.Dists, tt.want)
			}
		})
	}
}
