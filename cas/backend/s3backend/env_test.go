package s3backend_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/backend/s3backend"
	"github.com/rezup/rezup/internal/testsrv"
)

func TestParseINI(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     map[string]map[string]string
		err      string
	}{
		{"empty", "", map[string]map[string]string{}, ""},
		{"sections", `
# comment
[default]
region = eu-west-1
; other comment
[profile  farm]
Region=us-east-2
endpoint_url = https://s3.farm.example:9000
`, map[string]map[string]string{
			"default":      {"region": "eu-west-1"},
			"profile farm": {"region": "us-east-2", "endpoint_url": "https://s3.farm.example:9000"},
		}, ""},
		{"nested", "[profile x]\ns3 =\n  addressing_style = virtual\n  endpoint_url = http://a\nregion = r\n",
			map[string]map[string]string{"profile x": {"s3.addressing_style": "virtual", "s3.endpoint_url": "http://a", "region": "r"}}, ""},
		{"later wins", "[default]\nregion = a\n[default]\nregion = b\n", map[string]map[string]string{"default": {"region": "b"}}, ""},
		{"value with =", "[default]\nk = a=b\n", map[string]map[string]string{"default": {"k": "a=b"}}, ""},
		{"no section", "region = x\n", nil, `1: key "region" before any [section]`},
		{"bad header", "[default\n", nil, `1: bad section header "[default"`},
		{"empty header", "[ ]\n", nil, `1: bad section header "[ ]"`},
		{"no equals", "[default]\nregion\n", nil, `2: want key = value, found "region"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s3backend.ParseINI([]byte(tt.in))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.EqualFunc(got, tt.want, maps.Equal) {
				t.Fatalf("got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestParseLocation(t *testing.T) {
	for _, tt := range []struct{ in, bucket, prefix string }{
		{"s3://bucket", "bucket", ""},
		{"s3://bucket/", "bucket", ""},
		{"s3://bucket/team/cache/", "bucket", "team/cache"},
		{"S3://bucket/p", "bucket", "p"},
	} {
		b, p, err := s3backend.ParseLocation(tt.in)
		if err != nil || b != tt.bucket || p != tt.prefix {
			t.Errorf("ParseLocation(%q) = %q, %q, %v", tt.in, b, p, err)
		}
	}
	for _, bad := range []string{"s3://", "s3:///p", "http://bucket/p", "s3://u:p@bucket/p", "s3://bucket:9000/p", "s3://bucket/p?x=1"} {
		if _, _, err := s3backend.ParseLocation(bad); err == nil {
			t.Errorf("ParseLocation(%q) succeeded", bad)
		}
	}
}

// env is a getenv over a map.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func write(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// deadEndpoint is a URL where nothing listens.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	port, err := testsrv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// roundTrip opens location with getenv and puts, stats and lists an
// object through it: it works only if the credentials, endpoint and
// region were all found.
func roundTrip(t *testing.T, getenv func(string) string, location string) {
	t.Helper()
	ctx := context.Background()
	b, err := s3backend.Opener(getenv)(location)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "k/entry.json", backend.BytesSource([]byte("{}"))); err != nil {
		t.Fatalf("put through the opened backend: %v", err)
	}
	if fi, err := b.Stat(ctx, "k/entry.json"); err != nil || fi.Size != 2 {
		t.Fatalf("stat = %+v, %v", fi, err)
	}
}

func TestOpenerStaticKeys(t *testing.T) {
	s := server(t)
	// The process's own variables are wrong: only getenv's may be used.
	t.Setenv("AWS_ACCESS_KEY_ID", "wrong")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	t.Setenv("AWS_ENDPOINT_URL", deadEndpoint(t))
	roundTrip(t, env(map[string]string{
		"HOME":                  t.TempDir(),
		"AWS_ACCESS_KEY_ID":     s.AccessKey,
		"AWS_SECRET_ACCESS_KEY": s.SecretKey,
		"AWS_REGION":            s.Region,
		"AWS_ENDPOINT_URL":      s.Endpoint,
	}), "s3://"+newBucket(t)+"/cache")
}

// A profile's keys come from the credentials file, its region and
// endpoint from the config file: the files named by variables, or those
// in ~/.aws.
func TestOpenerProfile(t *testing.T) {
	s := server(t)
	creds := fmt.Sprintf("[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n\n[farm]\naws_access_key_id = %s\naws_secret_access_key = %s\n", s.AccessKey, s.SecretKey)
	config := fmt.Sprintf("[default]\nregion = eu-north-1\n\n[profile farm]\nregion = %s\nendpoint_url = %s\n", s.Region, s.Endpoint)
	t.Run("named files", func(t *testing.T) {
		dir := t.TempDir()
		vars := map[string]string{
			"HOME":                        t.TempDir(), // nothing there
			"AWS_PROFILE":                 "farm",
			"AWS_SHARED_CREDENTIALS_FILE": write(t, filepath.Join(dir, "creds"), creds),
			"AWS_CONFIG_FILE":             write(t, filepath.Join(dir, "conf"), config),
		}
		o, err := s3backend.EnvOptions(env(vars))
		if err != nil {
			t.Fatal(err)
		}
		if o.Region != s.Region || o.Endpoint != s.Endpoint || !o.PathStyle {
			t.Fatalf("options %+v, want region %s and endpoint %s path-style", o, s.Region, s.Endpoint)
		}
		roundTrip(t, env(vars), "s3://"+newBucket(t))
	})
	t.Run("home", func(t *testing.T) {
		home := t.TempDir()
		write(t, filepath.Join(home, ".aws", "credentials"), creds)
		write(t, filepath.Join(home, ".aws", "config"), config)
		roundTrip(t, env(map[string]string{"HOME": home, "AWS_PROFILE": "farm"}), "s3://"+newBucket(t)+"/p")
	})
	t.Run("region variable wins", func(t *testing.T) {
		home := t.TempDir()
		write(t, filepath.Join(home, ".aws", "config"), config)
		for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
			o, err := s3backend.EnvOptions(env(map[string]string{"HOME": home, v: "ap-south-1"}))
			if err != nil || o.Region != "ap-south-1" {
				t.Errorf("with %s: region %q, %v", v, o.Region, err)
			}
		}
		o, err := s3backend.EnvOptions(env(map[string]string{"HOME": home}))
		if err != nil || o.Region != "eu-north-1" || o.Endpoint != "" || o.PathStyle {
			t.Errorf("default profile: %+v, %v; want eu-north-1 on AWS", o, err)
		}
	})
	t.Run("broken config", func(t *testing.T) {
		home := t.TempDir()
		path := write(t, filepath.Join(home, ".aws", "config"), "[default]\nregion\n")
		_, err := s3backend.Opener(env(map[string]string{"HOME": home}))("s3://bucket")
		if err == nil || !strings.Contains(err.Error(), path+":2:") {
			t.Fatalf("broken config: %v, want an error naming %s:2", err, path)
		}
	})
}

// AWS_ENDPOINT_URL_S3 comes before AWS_ENDPOINT_URL, which comes before
// the profile's endpoint_url.
func TestOpenerEndpointPrecedence(t *testing.T) {
	s := server(t)
	dead := deadEndpoint(t)
	home := t.TempDir()
	write(t, filepath.Join(home, ".aws", "config"), "[default]\nendpoint_url = "+dead+"\n")
	base := map[string]string{"HOME": home, "AWS_ACCESS_KEY_ID": s.AccessKey, "AWS_SECRET_ACCESS_KEY": s.SecretKey, "AWS_REGION": s.Region}
	with := func(kv ...string) func(string) string {
		m := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return env(m)
	}
	roundTrip(t, with("AWS_ENDPOINT_URL_S3", s.Endpoint, "AWS_ENDPOINT_URL", dead), "s3://"+newBucket(t))
	roundTrip(t, with("AWS_ENDPOINT_URL", s.Endpoint), "s3://"+newBucket(t))
	o, err := s3backend.EnvOptions(with())
	if err != nil || o.Endpoint != dead {
		t.Fatalf("profile endpoint: %q, %v; want %s", o.Endpoint, err, dead)
	}
}

// Off EC2, the instance-role lookup finds nothing; it must not be asked
// again before every request of an anonymous client.
func TestInstanceRoleLookupBacksOff(t *testing.T) {
	var hits atomic.Int64
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.NotFound(w, r)
	}))
	defer meta.Close()
	now := time.Unix(1_000_000, 0)
	p := s3backend.QuietIAM(meta.URL, func() time.Time { return now })
	if _, err := p.RetrieveWithCredContext(nil); err == nil {
		t.Fatal("an empty metadata service gave credentials")
	}
	asked := hits.Load()
	if asked == 0 {
		t.Fatal("the metadata service was not asked")
	}
	now = now.Add(time.Minute)
	if _, err := p.RetrieveWithCredContext(nil); err == nil || hits.Load() != asked {
		t.Fatalf("asked again a minute later (%d requests, then %d): %v", asked, hits.Load(), err)
	}
	now = now.Add(10 * time.Minute)
	if _, err := p.RetrieveWithCredContext(nil); err == nil || hits.Load() == asked {
		t.Fatalf("not asked again after the quiet time: %v", err)
	}
}
