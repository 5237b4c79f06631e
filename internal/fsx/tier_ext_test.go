package fsx_test

import (
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/testkit"
)

// Set before any test runs: package inits precede the test main.
func init() { fsx.NeedsRoot = testkit.NeedsRoot }
