// Package testenv starts real servers for tests: a versitygw S3 server with a
// posix backend on a free loopback port, plus small helpers (free ports, an
// S3 client for a test server). It never fakes a server: when the pinned
// binary is missing, tests fail with instructions to build it.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// VersitygwVersion is the pinned versitygw release the Makefile builds.
const VersitygwVersion = "v1.8.0"

// S3Server is a running S3-compatible server for one test.
type S3Server struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:34567.
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string
	// Dir is the posix root directory holding the server's buckets.
	Dir string

	proc *process
}

// process owns the versitygw child so Stop can be called from the test
// and again from t.Cleanup.
type process struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	once   sync.Once
	waitCh chan struct{}
}

// Stop kills the server and waits for it to exit. It is safe to call more
// than once; tests call it to simulate a backend outage.
func (s S3Server) Stop() {
	if s.proc == nil {
		return
	}
	s.proc.once.Do(func() {
		_ = s.proc.cmd.Process.Kill()
		<-s.proc.waitCh
	})
}

// VersitygwBinary returns the path of the pinned versitygw binary:
// $STRATA_VERSITYGW, else the Makefile's tool cache.
func VersitygwBinary() string {
	if p := os.Getenv("STRATA_VERSITYGW"); p != "" {
		return p
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "strata", "tools", "versitygw-"+VersitygwVersion, "versitygw")
}

// Versitygw starts the real versitygw binary with a posix backend in a
// temporary directory on a free 127.0.0.1 port and stops it when the test
// ends. The server is ready (an authenticated ListBuckets succeeded) when
// Versitygw returns.
func Versitygw(t testing.TB) S3Server {
	t.Helper()
	bin := VersitygwBinary()
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		t.Fatalf("versitygw binary not found at %s: run `make tools` (or set STRATA_VERSITYGW)", bin)
	}
	srv := S3Server{
		AccessKey: "testenvaccesskey",
		SecretKey: "testenvsecretkey0123456789",
		Region:    "us-east-1",
		Dir:       t.TempDir(),
	}
	var lastErr error
	// A free port can be taken by someone else between FreeAddr and the
	// server's bind; retry with a new port a few times.
	for attempt := 0; attempt < 3; attempt++ {
		addr, err := FreeAddr()
		if err != nil {
			t.Fatalf("versitygw: %v", err)
		}
		srv.Endpoint = "http://" + addr
		srv.proc, lastErr = startVersitygw(bin, addr, srv)
		if lastErr != nil {
			continue
		}
		t.Cleanup(srv.Stop)
		if lastErr = waitReady(srv, 30*time.Second); lastErr == nil {
			return srv
		}
		srv.Stop()
	}
	out := ""
	if srv.proc != nil {
		out = srv.proc.out.String()
	}
	t.Fatalf("versitygw did not start: %v\noutput:\n%s", lastErr, out)
	return S3Server{}
}

func startVersitygw(bin, addr string, srv S3Server) (*process, error) {
	cmd := exec.Command(bin, "--port", addr, "--region", srv.Region, "--quiet", "posix", srv.Dir)
	cmd.Env = append(os.Environ(),
		"ROOT_ACCESS_KEY_ID="+srv.AccessKey,
		"ROOT_SECRET_ACCESS_KEY="+srv.SecretKey,
	)
	out := &lockedBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, out: out, waitCh: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.waitCh)
	}()
	return p, nil
}

// waitReady polls the port, then an authenticated ListBuckets, until the
// server answers or the process exits.
func waitReady(srv S3Server, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client, err := newClient(ctx, srv)
	if err != nil {
		return err
	}
	var lastErr error
	for {
		select {
		case <-srv.proc.waitCh:
			return fmt.Errorf("versitygw exited: %s", srv.proc.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", timeout, errors.Join(ctx.Err(), lastErr))
		case <-time.After(50 * time.Millisecond):
		}
		conn, err := net.DialTimeout("tcp", srv.Endpoint[len("http://"):], time.Second)
		if err != nil {
			lastErr = err
			continue
		}
		_ = conn.Close()
		callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = client.ListBuckets(callCtx, &s3.ListBucketsInput{})
		callCancel()
		if err == nil {
			return nil
		}
		lastErr = err
	}
}

// S3Client returns an aws-sdk-go-v2 client for srv (path-style), for tests
// that look at the backing server directly.
func S3Client(t testing.TB, srv S3Server) *s3.Client {
	t.Helper()
	c, err := newClient(context.Background(), srv)
	if err != nil {
		t.Fatalf("s3 client: %v", err)
	}
	return c
}

func newClient(ctx context.Context, srv S3Server) (*s3.Client, error) {
	// The buildable client keeps AWS_CA_BUNDLE working (a plain
	// *http.Client makes LoadDefaultConfig fail when it is set).
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(srv.Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")),
		config.WithHTTPClient(awshttp.NewBuildableClient()),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
		config.WithRetryMaxAttempts(1),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srv.Endpoint)
		o.UsePathStyle = true
	}), nil
}

// FreeAddr returns a 127.0.0.1:port address that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("find free port: %w", err)
	}
	return addr, nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a child's output; Write and String may race.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
