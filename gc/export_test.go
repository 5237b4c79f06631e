package gc

import "time"

// SetObjectsLockWait sets how long Execute waits for the object store's
// lock, for the tests of a held lock; it returns what puts it back.
func SetObjectsLockWait(d time.Duration) (restore func()) {
	old := objectsLockWait
	objectsLockWait = d
	return func() { objectsLockWait = old }
}
