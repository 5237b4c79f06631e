//go:build ignore

// mkzip writes a reproducible zip of a directory, for scripts/release
// (the Windows archives); it is not part of rezup:
//
//	go run scripts/mkzip.go EPOCH OUT.zip DIR NAME
//
// OUT.zip holds DIR/NAME and everything under it as NAME/..., in name
// order, each entry dated EPOCH (seconds since 1970, UTC), with mode 0755
// for directories and files executable by their owner, 0644 for the rest,
// and no owner. The same tree and EPOCH make the same bytes, whatever the
// time zone, umask or file dates of the machine. Anything but directories
// and regular files is refused. OUT.zip is written under a temporary name
// beside it and renamed at the end.
package main

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: go run scripts/mkzip.go EPOCH OUT.zip DIR NAME")
		os.Exit(2)
	}
	epoch, err := strconv.ParseInt(os.Args[1], 10, 64)
	if err != nil || epoch < 315532800 { // zip's DOS dates start in 1980
		fmt.Fprintf(os.Stderr, "mkzip: EPOCH %q is not seconds since 1970 after 1980\n", os.Args[1])
		os.Exit(2)
	}
	if err := write(time.Unix(epoch, 0).UTC(), os.Args[2], os.Args[3], os.Args[4]); err != nil {
		fmt.Fprintln(os.Stderr, "mkzip:", err)
		os.Exit(1)
	}
}

func write(mtime time.Time, out, dir, name string) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing to remove
	zw := zip.NewWriter(tmp)
	// WalkDir visits each directory's entries in name order.
	err = filepath.WalkDir(filepath.Join(dir, name), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		h := &zip.FileHeader{Name: rel, Modified: mtime}
		switch {
		case info.IsDir():
			h.Name += "/"
			h.Method = zip.Store
			h.SetMode(fs.ModeDir | 0o755)
			_, err := zw.CreateHeader(h)
			return err
		case info.Mode().IsRegular():
			h.Method = zip.Deflate
			mode := fs.FileMode(0o644)
			if info.Mode()&0o100 != 0 {
				mode = 0o755
			}
			h.SetMode(mode)
			w, err := zw.CreateHeader(h)
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		default:
			return fmt.Errorf("%s is neither a directory nor a regular file", path)
		}
	})
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}
