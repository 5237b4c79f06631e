package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testsrv"
)

// A build published in the files format to an http:// cache (nginx) and to
// an s3:// one (versitygw) is fetched by a node file by file: its index,
// then ranged reads of the packs, into its object store.
func TestNetCachesServeTheFilesFormat(t *testing.T) {
	t.Parallel()
	t.Run("http", func(t *testing.T) {
		t.Parallel()
		srv := nginxCache(t, testsrv.NginxOptions{})
		f := newFarm(t)
		f.publishTo(t, srv.URL+"/rezup", map[string]string{"REZUP_CACHE_FORMAT": "files"})
		checkFilesFetch(t, f, map[string]string{"REZUP_CACHE": srv.URL + "/rezup"})
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		srv := s3Cache(t, "studio")
		aws := map[string]string{
			"AWS_ENDPOINT_URL_S3":   srv.Endpoint,
			"AWS_ACCESS_KEY_ID":     srv.AccessKey,
			"AWS_SECRET_ACCESS_KEY": srv.SecretKey,
			"AWS_REGION":            srv.Region,
		}
		f := newFarm(t)
		env := map[string]string{"REZUP_CACHE_FORMAT": "files"}
		for k, v := range aws {
			env[k] = v
		}
		f.publishTo(t, "s3://studio/rezup", env)
		aws["REZUP_CACHE"] = "s3://studio/rezup"
		checkFilesFetch(t, f, aws)
	})
}

// checkFilesFetch has a new node of f, with env, launch prod, and checks
// it fetched the build by its index into its object store.
func checkFilesFetch(t *testing.T, f *farm, env map[string]string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "node")
	node := f.node(t, root)
	for k, v := range env {
		node.Env[k] = v
	}
	res := node.MustRun("use", "prod", "--", "rez-env", "maya")
	rezReport(t, res.Stdout)
	if !strings.Contains(res.Stderr, "fetching") || !strings.Contains(res.Stderr, "(index, ") ||
		!strings.Contains(res.Stderr, "fetched") || strings.Contains(res.Stderr, "installing") {
		t.Errorf("the node did not fetch by index, or ran pip:\n%s", res.Stderr)
	}
	shards, err := os.ReadDir(filepath.Join(root, ".store", "objects"))
	if err != nil || len(shards) < 16 {
		t.Errorf("the object store has %d shards (%v)", len(shards), err)
	}
}
