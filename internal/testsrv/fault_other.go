//go:build !unix

package testsrv

// closedPort returns an address of 127.0.0.1 where connecting is
// refused: a port that was free a moment ago, and is closed now.
func closedPort() (addr string, release func() error, err error) {
	l, err := Listen()
	if err != nil {
		return "", nil, err
	}
	addr = l.Addr().String()
	return addr, func() error { return nil }, l.Close()
}
