package testsrv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rezup/rezup/internal/fsx"
)

// NginxOptions shapes the nginx that Nginx starts.
type NginxOptions struct {
	// ReadOnly serves GET and HEAD only: no dav_methods, so PUT, DELETE
	// and MKCOL are refused as on a static file server or a CDN.
	ReadOnly bool
	// TLS serves https with a self-signed certificate for 127.0.0.1,
	// written into the server's directory; Server.CAFile names it.
	TLS bool
	// Authorization, when set, is the one Authorization header value the
	// server accepts: any request without it gets 401.
	Authorization string
	// Deny lists path prefixes ("/secret/") answered with 403 Forbidden.
	Deny []string
}

// nginxConf is the whole configuration: everything the server writes
// (pid, logs, temp files, data) stays under the directory it is given.
// Uploads land in client_body_temp_path and are renamed into the data
// root, so the temp directory must be on the same filesystem.
const nginxConf = `{{user}}daemon off;
worker_processes 2;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events { worker_connections 512; }
http {
	default_type application/octet-stream;
	access_log {{dir}}/access.log;
	client_body_temp_path {{dir}}/tmp/body;
	proxy_temp_path {{dir}}/tmp/proxy;
	fastcgi_temp_path {{dir}}/tmp/fastcgi;
	uwsgi_temp_path {{dir}}/tmp/uwsgi;
	scgi_temp_path {{dir}}/tmp/scgi;
	client_max_body_size 0;
	server {
		listen 127.0.0.1:{{port}}{{ssl}};
{{tls}}		root {{dir}}/data;
		location / {
{{auth}}			autoindex on;
			autoindex_format json;
{{dav}}		}
{{deny}}	}
}
`

// Nginx starts nginx serving dir/data on a free port of 127.0.0.1, with
// WebDAV PUT, DELETE and MKCOL (unless o.ReadOnly) and JSON directory
// listings. Its configuration, pid file, logs (dir/access.log,
// dir/error.log) and temp files are kept in dir. A missing nginx is an
// error saying how to install it.
func Nginx(dir string, o NginxOptions) (*Server, error) {
	bin, err := LookTool("nginx", `install it (apt-get install -y nginx-light, or your system's nginx package)`)
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	for _, d := range []string{"data", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	scheme, ssl, tls, caFile := "http", "", "", ""
	if o.TLS {
		cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if err := selfSigned(cert, key); err != nil {
			return nil, fmt.Errorf("nginx certificate: %w", err)
		}
		scheme, ssl, caFile = "https", " ssl", cert
		tls = fmt.Sprintf("\t\tssl_certificate %s;\n\t\tssl_certificate_key %s;\n", cert, key)
	}
	user := ""
	if os.Geteuid() == 0 {
		// Workers run as nobody otherwise, and could not write the data
		// root that root created.
		user = "user root root;\n"
	}
	auth := ""
	if o.Authorization != "" {
		auth = fmt.Sprintf("\t\t\tif ($http_authorization != %s) { return 401; }\n", strconv.Quote(o.Authorization))
	}
	deny := ""
	for _, p := range o.Deny {
		deny += fmt.Sprintf("\t\tlocation %s { return 403; }\n", p)
	}
	dav := "\t\t\tdav_methods PUT DELETE MKCOL;\n\t\t\tcreate_full_put_path on;\n\t\t\tdav_access user:rw group:r all:r;\n"
	if o.ReadOnly {
		dav = ""
	}
	conf := strings.NewReplacer("{{user}}", user, "{{dir}}", dir, "{{port}}", strconv.Itoa(port),
		"{{ssl}}", ssl, "{{tls}}", tls, "{{auth}}", auth, "{{deny}}", deny, "{{dav}}", dav).Replace(nginxConf)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := fsx.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s, err := start(cmd, dir, "nginx.out", addr, scheme+"://"+addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	s.DataDir = filepath.Join(dir, "data")
	s.CAFile = caFile
	return s, nil
}

// selfSigned writes a self-signed CA certificate for 127.0.0.1 (and
// localhost), valid for a day, and its key, as PEM files.
func selfSigned(certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "rezup test nginx"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := fsx.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return fsx.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
