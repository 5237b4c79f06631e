package s3backend

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/rezup/rezup/cas/backend"
)

// Opener returns the opener of s3://bucket/prefix locations, configured
// from the variables getenv returns (the caller's environment) the way
// the AWS CLI and SDKs read them; see the package doc.
func Opener(getenv func(string) string) backend.Opener {
	return func(location string) (backend.Backend, error) {
		bucket, prefix, err := ParseLocation(location)
		if err != nil {
			return nil, err
		}
		o, err := EnvOptions(getenv)
		if err != nil {
			return nil, err
		}
		return New(bucket, prefix, o)
	}
}

// ParseLocation splits s3://bucket/prefix.
func ParseLocation(location string) (bucket, prefix string, err error) {
	u, err := url.Parse(location)
	if err != nil || !strings.EqualFold(u.Scheme, "s3") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.Port() != "" {
		return "", "", fmt.Errorf("bad S3 location %q: want s3://bucket or s3://bucket/prefix", location)
	}
	return u.Host, strings.Trim(u.Path, "/"), nil
}

// EnvOptions resolves the endpoint, region and credentials from the
// variables getenv returns and the AWS files they point to.
func EnvOptions(getenv func(string) string) (Options, error) {
	home := getenv("HOME")
	if home == "" {
		home = getenv("USERPROFILE")
	}
	profile := first(getenv("AWS_PROFILE"), "default")
	credFile := first(getenv("AWS_SHARED_CREDENTIALS_FILE"), inHome(home, ".aws", "credentials"))
	confFile := first(getenv("AWS_CONFIG_FILE"), inHome(home, ".aws", "config"))

	conf, err := readProfile(confFile, configSection(profile))
	if err != nil {
		return Options{}, err
	}
	o := Options{
		Region:   first(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"), conf["region"]),
		Endpoint: first(getenv("AWS_ENDPOINT_URL_S3"), getenv("AWS_ENDPOINT_URL"), conf["s3.endpoint_url"], conf["endpoint_url"]),
	}
	// Stores other than AWS rarely resolve bucket.host names.
	o.PathStyle = o.Endpoint != "" && conf["s3.addressing_style"] != "virtual"

	// The first provider that yields a key pair wins.
	var chain []credentials.Provider
	if id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		chain = append(chain, &credentials.Static{Value: credentials.Value{
			AccessKeyID: id, SecretAccessKey: secret, SessionToken: getenv("AWS_SESSION_TOKEN"),
			SignerType: credentials.SignatureV4,
		}})
	}
	if credFile != "" {
		// minio reads this one file (and runs its credential_process),
		// for the profile named: it reads no variable itself then.
		chain = append(chain, &credentials.FileAWSCredentials{Filename: credFile, Profile: profile})
	}
	if id, secret := conf["aws_access_key_id"], conf["aws_secret_access_key"]; id != "" && secret != "" {
		chain = append(chain, &credentials.Static{Value: credentials.Value{
			AccessKeyID: id, SecretAccessKey: secret, SessionToken: conf["aws_session_token"],
			SignerType: credentials.SignatureV4,
		}})
	}
	iam := &credentials.IAM{Client: &http.Client{Timeout: 5 * time.Second}, Region: o.Region}
	iam.Container.AuthorizationToken = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
	iam.Container.AuthorizationTokenFile = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
	iam.Container.CredentialsFullURI = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
	iam.Container.CredentialsRelativeURI = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
	iam.EKSIdentity.TokenFile = getenv("AWS_WEB_IDENTITY_TOKEN_FILE")
	iam.EKSIdentity.RoleARN = getenv("AWS_ROLE_ARN")
	iam.EKSIdentity.RoleSessionName = getenv("AWS_ROLE_SESSION_NAME")
	o.Creds = credentials.NewChainCredentials(append(chain, &quietProvider{Provider: iam, now: time.Now}))
	return o, nil
}

// iamQuiet is how long the instance-role lookup stays off after it found
// nothing. Without credentials (a public bucket), minio's chain asks every
// provider again before every request, and off EC2 the metadata address
// may take the client's whole timeout to fail.
const iamQuiet = 5 * time.Minute

// quietProvider is a credentials provider that, after finding nothing,
// is not asked again for iamQuiet.
type quietProvider struct {
	credentials.Provider
	now func() time.Time

	mu    sync.Mutex
	until time.Time
	err   error
}

func (q *quietProvider) RetrieveWithCredContext(cc *credentials.CredContext) (credentials.Value, error) {
	return q.retrieve(func() (credentials.Value, error) { return q.Provider.RetrieveWithCredContext(cc) })
}

func (q *quietProvider) Retrieve() (credentials.Value, error) {
	return q.retrieve(q.Provider.Retrieve)
}

func (q *quietProvider) retrieve(get func() (credentials.Value, error)) (credentials.Value, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.now().Before(q.until) {
		return credentials.Value{}, q.err
	}
	v, err := get()
	if err == nil && v.AccessKeyID == "" {
		err = errors.New("no instance or container role")
	}
	if err != nil {
		q.until, q.err = q.now().Add(iamQuiet), err
	}
	return v, err
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func inHome(home string, elem ...string) string {
	if home == "" {
		return ""
	}
	return filepath.Join(append([]string{home}, elem...)...)
}

// configSection is the config file's section of profile: "[default]" for
// the default profile, "[profile NAME]" for the others.
func configSection(profile string) string {
	if profile == "default" {
		return "default"
	}
	return "profile " + profile
}

// readProfile returns the keys of section in the ini file at path; a
// missing file (or none given) has none.
func readProfile(path, section string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read AWS config: %w", err)
	}
	sections, err := parseINI(data)
	if err != nil {
		return nil, fmt.Errorf("AWS config %s:%w", path, err)
	}
	if s := sections[section]; s != nil || section != "default" {
		return s, nil
	}
	return sections["profile default"], nil
}

// parseINI reads the AWS flavour of ini: "[section]" lines, "key =
// value" lines, comments starting with "#" or ";", and nested keys (an
// empty "s3 =" followed by indented "key = value" lines, stored as
// "s3.key"). Keys are lowercased; a later key replaces an earlier one.
// Errors start with the line number.
func parseINI(data []byte) (map[string]map[string]string, error) {
	sections := map[string]map[string]string{}
	var cur map[string]string
	parent := "" // the key whose nested keys the indented lines are
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			name, ok := strings.CutSuffix(line, "]")
			name = strings.Join(strings.Fields(name[1:]), " ")
			if !ok || name == "" {
				return nil, fmt.Errorf("%d: bad section header %q", n, line)
			}
			if sections[name] == nil {
				sections[name] = map[string]string{}
			}
			cur, parent = sections[name], ""
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("%d: want key = value, found %q", n, line)
		}
		if cur == nil {
			return nil, fmt.Errorf("%d: key %q before any [section]", n, k)
		}
		indented := raw[0] == ' ' || raw[0] == '\t'
		switch {
		case indented && parent != "":
			cur[parent+"."+k] = v
		case v == "":
			parent = k
		default:
			cur[k], parent = v, ""
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return sections, nil
}
