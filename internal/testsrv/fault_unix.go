//go:build unix

package testsrv

import (
	"fmt"
	"syscall"
)

// closedPort returns an address of 127.0.0.1 where connecting is refused
// until release is called: a socket bound to a free port that never
// listens holds the port, so no other server can take it meanwhile.
func closedPort() (addr string, release func() error, err error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return "", nil, fmt.Errorf("closed port: %w", err)
	}
	// Without SO_REUSEADDR: no one else binds the port while it is held.
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd) // never used
		return "", nil, fmt.Errorf("closed port: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	in4, ok := sa.(*syscall.SockaddrInet4)
	if err != nil || !ok {
		syscall.Close(fd) // never used
		return "", nil, fmt.Errorf("closed port: getsockname: %v", err)
	}
	return fmt.Sprintf("127.0.0.1:%d", in4.Port), func() error { return syscall.Close(fd) }, nil
}
