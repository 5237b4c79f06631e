//go:build windows

package objects

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/rezup/rezup/internal/fsx"
)

// syncInPut: Windows has no syncfs, and a read-only file cannot be opened
// to flush it later, so Put flushes each object before making it
// read-only, and Commit has nothing left to sync.
const syncInPut = true

// createsReadOnly: on Windows, Put makes its temp read-only once it is
// written and flushed.
const createsReadOnly = false

// openDir opens a directory to read it.
func openDir(path string) (*os.File, error) { return os.Open(path) }

// createTemp creates a new temp for object n in dir, writable.
func createTemp(dir, n string, _ fs.FileMode) (tempFile, error) {
	return os.CreateTemp(dir, "."+n+".*"+fsx.TempSuffix)
}

func syncTemps(string, []string) error { return nil }

// linkFallsBack reports whether a failed CreateHardLink of an object means
// "make a copy instead", for this one file: another volume, the link
// limit (1023 on NTFS), access denied, or a filesystem without hard links
// (FAT).
func linkFallsBack(err error) bool {
	for _, e := range []syscall.Errno{windows.ERROR_NOT_SAME_DEVICE, windows.ERROR_TOO_MANY_LINKS,
		windows.ERROR_ACCESS_DENIED, windows.ERROR_NOT_SUPPORTED, windows.ERROR_INVALID_FUNCTION} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// linkNew renames tmp to final, never over a file already there
// (MoveFileEx without MOVEFILE_REPLACE_EXISTING: fs.ErrExist then, and
// tmp stays).
func linkNew(tmp, final string) error {
	from, err := windows.UTF16PtrFromString(tmp)
	if err != nil {
		return err
	}
	to, err := windows.UTF16PtrFromString(final)
	if err != nil {
		return err
	}
	if err := windows.MoveFileEx(from, to, 0); err != nil {
		if errors.Is(err, windows.ERROR_FILE_EXISTS) {
			err = windows.ERROR_ALREADY_EXISTS // which errors.Is reads as fs.ErrExist
		}
		return &os.LinkError{Op: "rename", Old: tmp, New: final, Err: err}
	}
	return nil
}

type fileInfo struct {
	regular  bool
	links    uint64
	size     int64
	changed  time.Time
	modified time.Time
	uid      int
	owned    bool
	id       fileID
}

type fileID struct {
	vol, idxHi, idxLo uint32
}

// fileBasicInfo is FILE_BASIC_INFO: times in 100 ns since 1601.
type fileBasicInfo struct {
	CreationTime, LastAccessTime, LastWriteTime, ChangeTime int64
	FileAttributes                                          uint32
	_                                                       uint32
}

func statIn(_ uintptr, dirPath, name string, _ int) (fileInfo, error) {
	return statPath(filepath.Join(dirPath, name))
}

// statPath reads what Walk needs through a handle: the link count and the
// change time are not in what FindFirstFile gives.
func statPath(path string) (fileInfo, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return fileInfo{}, err
	}
	h, err := windows.CreateFile(p, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return fileInfo{}, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer windows.CloseHandle(h) // opened for attributes only
	var bh windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &bh); err != nil {
		return fileInfo{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	var bi fileBasicInfo
	if err := windows.GetFileInformationByHandleEx(h, windows.FileBasicInfo, (*byte)(unsafe.Pointer(&bi)), uint32(unsafe.Sizeof(bi))); err != nil {
		return fileInfo{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	const notRegular = windows.FILE_ATTRIBUTE_DIRECTORY | windows.FILE_ATTRIBUTE_REPARSE_POINT | windows.FILE_ATTRIBUTE_DEVICE
	return fileInfo{
		regular:  bh.FileAttributes&notRegular == 0,
		links:    uint64(bh.NumberOfLinks),
		size:     int64(bh.FileSizeHigh)<<32 | int64(bh.FileSizeLow),
		changed:  filetime(bi.ChangeTime),
		modified: filetime(bi.LastWriteTime),
		owned:    true, // as fsx: ownership is not checked on Windows
		id:       fileID{vol: bh.VolumeSerialNumber, idxHi: bh.FileIndexHigh, idxLo: bh.FileIndexLow},
	}, nil
}

func filetime(t int64) time.Time {
	ft := windows.Filetime{LowDateTime: uint32(t), HighDateTime: uint32(t >> 32)}
	return time.Unix(0, ft.Nanoseconds())
}

// fileDispositionInfoEx is FILE_DISPOSITION_INFO_EX.
type fileDispositionInfoEx struct{ Flags uint32 }

// removeFile deletes a read-only object without clearing its read-only
// attribute, which its hard links in builds share: POSIX delete ignoring
// the attribute (Windows 10 1809 and later, NTFS). Elsewhere the
// attribute is cleared first, and the builds that link the file lose it.
func removeFile(path string) error {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(p, windows.DELETE, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	info := fileDispositionInfoEx{Flags: windows.FILE_DISPOSITION_DELETE | windows.FILE_DISPOSITION_POSIX_SEMANTICS | windows.FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE}
	serr := windows.SetFileInformationByHandle(h, windows.FileDispositionInfoEx, (*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)))
	windows.CloseHandle(h) // the deletion, if set, happens at this close
	if serr == nil {
		return nil
	}
	if err := os.Chmod(path, 0o666); err != nil {
		return err
	}
	return os.Remove(path)
}
