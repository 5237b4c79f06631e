package helper

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"

	"github.com/rezup/rezup/cas/backend"
)

// Protocol is the version of the protocol: a client and a helper talk only
// when theirs are equal. Change it with any change to the frames or
// messages below.
//
// 2: an open request may carry a Length (ranged reads of packs). A
// helper of protocol 1 would ignore it and send the rest of the object;
// and the handshake asks for the same release anyway, so a rezup and a
// rezup-net of one release always speak the same protocol: the bump
// only makes a mismatched pair fail at once, in one line, instead of
// wasting a transfer.
const Protocol = 2

// helperMagic is what a helper calls itself in its handshake, so that a
// client tells a rezup-net from another program that happens to answer.
const helperMagic = "rezup-net"

// Frame types. A frame is a 13-byte header (the payload's length, uint32
// big-endian; the type; the request ID, uint64 big-endian) and the
// payload.
const (
	frameHello   byte = 'h' // both ways, ID 0: helloMsg (JSON)
	frameRequest byte = 'q' // client: requestMsg (JSON)
	frameOpened  byte = 'o' // helper: Open succeeded, the body follows
	frameData    byte = 'd' // an Open body's bytes, a List's items (JSON), a Put's inline bytes
	frameEnd     byte = 'e' // helper: the request's last frame, endMsg (JSON)
	frameCancel  byte = 'c' // client: the request is abandoned; its context ends
	frameWindow  byte = 'w' // client: uint64, more bytes the helper may send for the request
)

const (
	headerLen = 13
	// maxPayload bounds a frame: a stream that announces more is not
	// rezup-net's.
	maxPayload = 1 << 20
	// chunkSize is the most a data frame carries.
	chunkSize = 128 << 10
	// window is how many bytes of an Open body or a List the helper may
	// send ahead of what the client has consumed: a slow reader holds up
	// its own request, never the others sharing the pipe.
	window = 2 << 20
	// grantEvery is how much the client consumes before it grants more.
	grantEvery = window / 4
	// listBatch is about how many bytes of items a List data frame holds.
	listBatch = 64 << 10
)

// MaxInline is the largest Put whose bytes go through the pipe: a
// *backend.FileSource of any size is read by the helper itself, from its
// path, and any other source (entry.json, a lease, a few hundred bytes)
// must fit in memory on both sides.
const MaxInline = 64 << 20

type frame struct {
	typ     byte
	id      uint64
	payload []byte
}

var errBadFrame = errors.New("not a rezup-net stream")

// readFrame reads one frame. A clean end before a header is io.EOF.
func readFrame(r io.Reader, hdr *[headerLen]byte) (frame, error) {
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[0:4])
	if n > maxPayload {
		return frame{}, fmt.Errorf("%w (a frame of %d bytes)", errBadFrame, n)
	}
	f := frame{typ: hdr[4], id: binary.BigEndian.Uint64(hdr[5:13])}
	if n > 0 {
		f.payload = make([]byte, n)
		if _, err := io.ReadFull(r, f.payload); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return frame{}, err
		}
	}
	return f, nil
}

// frameWriter writes whole frames, from many goroutines. With a timeout,
// and a writer that takes deadlines (a pipe to a process), a frame that
// cannot be written within it fails, so that a helper that stopped reading
// cannot hold a caller for ever. An error is sticky.
type frameWriter struct {
	mu      sync.Mutex
	w       io.Writer
	timeout time.Duration
	buf     []byte
	err     error
}

type writeDeadliner interface {
	SetWriteDeadline(time.Time) error
}

func (fw *frameWriter) write(typ byte, id uint64, payload []byte) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.err != nil {
		return fw.err
	}
	buf := fw.buf[:0]
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(payload)))
	buf = append(buf, typ)
	buf = binary.BigEndian.AppendUint64(buf, id)
	buf = append(buf, payload...)
	fw.buf = buf
	if d, ok := fw.w.(writeDeadliner); ok && fw.timeout > 0 {
		// A pipe without deadlines (Windows) is written without.
		_ = d.SetWriteDeadline(time.Now().Add(fw.timeout))
	}
	if _, err := fw.w.Write(buf); err != nil {
		fw.err = err
	}
	if cap(fw.buf) > 2*(headerLen+chunkSize) {
		fw.buf = nil // a large inline Put: do not keep its buffer
	}
	return fw.err
}

func uint64Payload(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// helloMsg is the handshake: the client's first frame, and the helper's
// answer, with the error of opening the backend if it could not.
type helloMsg struct {
	Helper   string     `json:"helper,omitempty"`
	Protocol int        `json:"protocol"`
	Version  string     `json:"version"`
	Error    *wireError `json:"error,omitempty"`
}

// requestMsg is one Backend call. Op is stat, open, put, list or delete;
// Name is the object, or List's prefix. An Open reads from Offset on,
// Length bytes at most, or to the end when Length is absent. A Put sends
// Size bytes in data frames after the request, unless Path names a file
// the helper reads.
type requestMsg struct {
	Op     string `json:"op"`
	Name   string `json:"name"`
	Offset int64  `json:"offset,omitempty"`
	Length *int64 `json:"length,omitempty"`
	Size   int64  `json:"size,omitempty"`
	Path   string `json:"path,omitempty"`
}

// endMsg ends a request: Stat's answer, or the error.
type endMsg struct {
	Info  *backend.ObjectInfo `json:"info,omitempty"`
	Error *wireError          `json:"error,omitempty"`
}

// wireError is an error with the kinds callers branch on, so that
// backend.IsNotExist, backend.IsPermanent, errors.Is(err,
// backend.ErrExist) and the rest say of it what they said in the helper.
type wireError struct {
	Msg   string   `json:"msg"`
	Kinds []string `json:"kinds,omitempty"`
}

// errorKinds are the sentinels an error keeps across the pipe. "exist"
// is matched as fs.ErrExist and comes back as backend.ErrExist, which
// wraps it.
var errorKinds = []struct {
	name  string
	match error
	back  error
}{
	{"not-exist", fs.ErrNotExist, fs.ErrNotExist},
	{"exist", fs.ErrExist, backend.ErrExist},
	{"permission", fs.ErrPermission, fs.ErrPermission},
	{"invalid-name", backend.ErrInvalidName, backend.ErrInvalidName},
	{"not-regular", backend.ErrNotRegular, backend.ErrNotRegular},
	{"stalled", backend.ErrStalled, backend.ErrStalled},
	{"canceled", context.Canceled, context.Canceled},
	{"deadline", context.DeadlineExceeded, context.DeadlineExceeded},
	{"unsupported", errors.ErrUnsupported, errors.ErrUnsupported},
}

// kindPermanent marks an error backend.IsPermanent is true of; the others
// are transient, for the retry layer in rezup to try again.
const kindPermanent = "permanent"

func encodeError(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Msg: err.Error()}
	for _, k := range errorKinds {
		if errors.Is(err, k.match) {
			w.Kinds = append(w.Kinds, k.name)
		}
	}
	if backend.IsPermanent(err) {
		w.Kinds = append(w.Kinds, kindPermanent)
	}
	return w
}

func (w *wireError) err() error {
	if w == nil {
		return nil
	}
	e := &remoteError{msg: w.Msg}
	permanent := false
	for _, name := range w.Kinds {
		if name == kindPermanent {
			permanent = true
			continue
		}
		for _, k := range errorKinds {
			if k.name == name {
				e.kinds = append(e.kinds, k.back)
			}
		}
	}
	if permanent {
		return backend.Permanent(e)
	}
	return e
}

// remoteError is an error the helper sent: its message as the backend
// wrote it, and the sentinels it matched.
type remoteError struct {
	msg   string
	kinds []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.kinds }
