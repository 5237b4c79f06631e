package main

import (
	"context"
	"fmt"

	"github.com/rezup/rezup/cas/backend/httpbackend"
	"github.com/rezup/rezup/cas/backend/s3backend"
	"github.com/rezup/rezup/cas/cache"
)

// This file is the fleet benchmark's one door into rezup's cache
// packages: it opens a cache as rezup would, empties it, and counts what
// it holds. Everything else the benchmarks learn, they learn as a user
// would, from rezup's commands and the files they leave (README, "Layout"),
// so that a change of the library's API is one file to follow here.

// openCache opens the cache at loc as rezup does, the network backends
// reading vars (nil: no variables).
func openCache(loc string, vars map[string]string) (*cache.Cache, error) {
	getenv := func(k string) string { return vars[k] }
	r := cache.Schemes()
	r.Register("http", httpbackend.Opener(getenv))
	r.Register("https", httpbackend.Opener(getenv))
	r.Register("s3", s3backend.Opener(getenv))
	return cache.OpenWith(loc, cache.OpenOptions{Schemes: r})
}

// emptyCache removes everything the cache at loc holds for every key.
func emptyCache(ctx context.Context, loc string, vars map[string]string) error {
	c, err := openCache(loc, vars)
	if err != nil {
		return err
	}
	keys, err := c.Keys(ctx)
	if err != nil {
		return fmt.Errorf("list the keys of %s: %w", loc, err)
	}
	for _, k := range keys {
		if err := c.Remove(ctx, k.Key); err != nil {
			return fmt.Errorf("remove %s from %s: %w", k.Key, loc, err)
		}
	}
	return nil
}

// cacheArchives counts the archives the cache at loc holds, by key (a key
// with leases or an entry but no archive counts 0).
func cacheArchives(ctx context.Context, loc string, vars map[string]string) (map[string]int, error) {
	c, err := openCache(loc, vars)
	if err != nil {
		return nil, err
	}
	keys, err := c.Keys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the keys of %s: %w", loc, err)
	}
	out := map[string]int{}
	for _, k := range keys {
		as, err := c.Archives(ctx, k.Key)
		if err != nil {
			return nil, fmt.Errorf("list the archives of %s in %s: %w", k.Key, loc, err)
		}
		out[k.Key.String()] = len(as)
	}
	return out, nil
}
