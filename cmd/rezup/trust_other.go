//go:build !unix

package main

import "io/fs"

// checkPrivate checks nothing where file modes do not say who may read a
// file (Windows: ACLs); keeping the key private is left to them.
func checkPrivate(string, fs.FileInfo) error { return nil }
