package fsx

// Sentinel returns an error for a package variable: its message is msg,
// ": " and wrapped's, and it wraps wrapped, as fmt.Errorf(msg+": %w",
// wrapped) would. fmt.Errorf in a package variable runs fmt at init in
// every rezup process, the warm launch included, though such an error is
// only ever read when something failed.
func Sentinel(msg string, wrapped error) error {
	return &sentinel{msg: msg, wrapped: wrapped}
}

type sentinel struct {
	msg     string
	wrapped error
}

func (e *sentinel) Error() string { return e.msg + ": " + e.wrapped.Error() }
func (e *sentinel) Unwrap() error { return e.wrapped }
