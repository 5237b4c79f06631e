package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/backend/helper"
	"github.com/rezup/rezup/internal/envlist"
	"github.com/rezup/rezup/internal/selfupdate"
)

// netHelpers are the clients of the cache helpers (rezup-net) this run
// opened. rezup links no HTTP, TLS or S3 code: http(s):// and s3://
// caches are served by rezup-net, started on a client's first operation
// (a launch whose build is ready starts none), and ended before rezup
// execs a command and when it returns, so that none outlives rezup.
type netHelpers struct {
	mu      sync.Mutex
	clients map[string]*helper.Client // by location
}

// openNet is the opener of http://, https:// and s3:// caches. It starts
// nothing: the helper starts on the first operation, with rezup's
// environment (where the credentials the backends read are). A location
// opened again gets the same client: one helper per cache and run.
func (a *app) openNet(location string) (backend.Backend, error) {
	a.nets.mu.Lock()
	defer a.nets.mu.Unlock()
	if c := a.nets.clients[location]; c != nil {
		return c, nil
	}
	c := helper.New(location, helper.Options{
		Version: rezupVersion(),
		Command: func() (*exec.Cmd, error) {
			path, err := a.netHelperPath()
			if err != nil {
				return nil, err
			}
			a.log.Debug("starting the cache helper", "path", path, "cache", location)
			cmd := exec.Command(path, "serve", location)
			cmd.Env = a.environ
			return cmd, nil
		},
	})
	if a.nets.clients == nil {
		a.nets.clients = map[string]*helper.Client{}
	}
	a.nets.clients[location] = c
	return c, nil
}

// closeNet ends every cache helper this run started; the caches opened
// before fail if used again, and caches opened after start new ones.
func (a *app) closeNet() {
	a.nets.mu.Lock()
	clients := a.nets.clients
	a.nets.clients = nil
	a.nets.mu.Unlock()
	for _, c := range clients {
		if err := c.Close(); err != nil {
			// It was killed instead: gone all the same.
			a.log.Debug("cache helper", "err", err)
		}
	}
}

// netHelperPath is rezup-net beside rezup's executable (symlinks
// resolved, as the self-upgrade installs it there), else on rezup's PATH.
func (a *app) netHelperPath() (string, error) {
	beside := selfupdate.HelperProgram + " beside rezup"
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			beside = selfupdate.HelperPath(exe)
			if fi, err := os.Stat(beside); err == nil && fi.Mode().IsRegular() {
				return beside, nil
			}
		}
	}
	if p, err := envlist.LookPath(selfupdate.HelperProgram, a.environ); err == nil {
		return p, nil
	}
	return "", withHint(fmt.Errorf("%s is neither at %s nor on PATH", selfupdate.HelperProgram, beside),
		"rezup runs %s for http(s):// and s3:// caches: install it beside rezup, from the same release", selfupdate.HelperProgram)
}
