//go:build windows

package fsx

import "errors"

var errSyncUnsupported = errors.New("sync unsupported")

func isNotEmpty(err error) bool { return false }
