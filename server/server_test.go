package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratagw/strata/admin/client"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func testConfig(dir string) Config {
	return Config{
		NodeID: "n1", DataDir: dir, S3Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0",
		Bootstrap: true, ClusterKey: testKey, DevBackend: true, FSLockdown: true,
	}
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func backends(t *testing.T, s *Server, ak, sk string) []string {
	t.Helper()
	c, err := client.New(s.AdminURL(), ak, sk)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bes, err := c.Backends(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range bes {
		names = append(names, b.Name)
	}
	return names
}

// TestGeneratedCredentialAndRestart: the first start generates the admin
// credential into its file and adds the dev backend; a restart keeps
// both, learns the credential from the file, and creates nothing twice.
func TestGeneratedCredentialAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := start(t, testConfig(dir))
	ak, sk := s.AdminCredential()
	if !s.Initialized() || !strings.HasPrefix(ak, "SK") || len(sk) != 40 {
		t.Fatalf("first start: initialized=%v ak=%q", s.Initialized(), ak)
	}
	st, err := os.Stat(s.CredentialFile())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v %v", st, err)
	}
	c, err := ReadCredentialFile(s.CredentialFile())
	if err != nil || c.AccessKey != ak || c.SecretKey != sk {
		t.Fatalf("credential file holds %+v, %v", c, err)
	}
	if got := backends(t, s, ak, sk); len(got) != 1 || got[0] != DevBackendName {
		t.Fatalf("backends: %v", got)
	}
	cfg, ok, err := s.State().Config()
	if err != nil || !ok || cfg.DefaultRegion != "local" || cfg.ClusterID == "" {
		t.Fatalf("cluster config: %+v %v %v", cfg, ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // idempotent
		t.Fatal(err)
	}

	s2 := start(t, testConfig(dir))
	ak2, sk2 := s2.AdminCredential()
	if s2.Initialized() || ak2 != ak || sk2 != sk {
		t.Fatalf("restart: initialized=%v credential %q", s2.Initialized(), ak2)
	}
	if got := backends(t, s2, ak, sk); len(got) != 1 {
		t.Fatalf("backends after restart: %v", got)
	}
	cfg2, _, _ := s2.State().Config()
	if cfg2.ClusterID != cfg.ClusterID {
		t.Fatalf("cluster id changed: %q → %q", cfg.ClusterID, cfg2.ClusterID)
	}
}

// TestWrongClusterKeyRefused: a restart with another cluster key fails
// at start instead of failing every request.
// It holds whether or not the restarted node is told the admin
// credential.
func TestWrongClusterKeyRefused(t *testing.T) {
	for _, told := range []bool{true, false} {
		t.Run(fmt.Sprintf("credential given %v", told), func(t *testing.T) { testWrongClusterKey(t, told) })
	}
}

func testWrongClusterKey(t *testing.T, told bool) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.AdminAccessKey, cfg.AdminSecretKey = "SKFIXEDADMIN00000001", "fixed-admin-secret-0123456789"
	s := start(t, cfg)
	if _, err := os.Stat(s.CredentialFile()); !os.IsNotExist(err) {
		t.Fatalf("a given credential was written to a file: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !told {
		cfg.AdminAccessKey, cfg.AdminSecretKey = "", ""
	}
	cfg.ClusterKey = []byte("another-key-another-key-another-")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s2, err := Start(ctx, cfg)
	if err == nil {
		s2.Close()
		t.Fatal("started with the wrong cluster key")
	}
	if !strings.Contains(err.Error(), "cluster key does not open") {
		t.Fatalf("err = %v", err)
	}
	// Everything was released: the right key starts again on the same dir.
	cfg.ClusterKey = testKey
	start(t, cfg)
}

func TestStartRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantErr string
	}{
		{"short key", func(c *Config) { c.ClusterKey = []byte("short") }, "cluster key must be 32 bytes"},
		{"half credential", func(c *Config) { c.AdminAccessKey = "SKONLYKEY" }, "given together"},
		{"bad credential", func(c *Config) { c.AdminAccessKey, c.AdminSecretKey = "a b", "secretsecret" }, "white space"},
		{"no node id", func(c *Config) { c.NodeID = "" }, "node id is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(filepath.Join(dir, tt.name))
			tt.mutate(&cfg)
			_, err := Start(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
				t.Fatalf("refused start created %s", cfg.DataDir)
			}
		})
	}
}

func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := testConfig(t.TempDir())
	cfg.S3Addr = l.Addr().String()
	_, err = Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "s3 listener") {
		t.Fatalf("err = %v", err)
	}
	// The failed start released the state: a second start on the same dir works.
	cfg.S3Addr = "127.0.0.1:0"
	start(t, cfg)
}

func TestAdvertiseAddr(t *testing.T) {
	bound := &net.TCPAddr{IP: net.IPv4zero, Port: 9100}
	local := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 9100}
	tests := []struct {
		advertise string
		bound     net.Addr
		want      string
	}{
		{"", bound, "127.0.0.1:9100"},
		{"", local, "10.0.0.5:9100"},
		{"node1.example", bound, "node1.example:9100"},
		{"node1.example:7000", bound, "node1.example:7000"},
	}
	for _, tt := range tests {
		got, err := advertiseAddr(tt.advertise, tt.bound)
		if err != nil || got != tt.want {
			t.Errorf("advertiseAddr(%q, %v) = %q, %v; want %q", tt.advertise, tt.bound, got, err, tt.want)
		}
	}
}
