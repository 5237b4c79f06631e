//go:build !linux

package main

import "errors"

// errNoProcs: only Linux lists processes here (/proc).
var errNoProcs = errors.New("listing processes needs Linux's /proc")

// watchChildren does nothing here: only Linux has child subreapers.
func watchChildren() {}

func inGroups(leaders []int) ([]string, error) { return nil, errNoProcs }

func leftovers() ([]string, error) { return nil, errNoProcs }
