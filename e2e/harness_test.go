// Package e2e holds black-box tests: they start the real strata binary
// (STRATA_BINARY, built by `make test-e2e`, or built here when unset) and
// drive it with real clients — aws-sdk-go-v2 and the aws CLI — against real
// backends (the fs backend and a versitygw S3 server).
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratagw/strata/internal/testenv"
)

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// node is one running strata process.
type node struct {
	t         testing.TB
	dir       string // working directory (data dir is dir/strata-data)
	args      []string
	env       []string
	cmd       *exec.Cmd
	out       *syncBuffer
	S3Addr    string
	AdminAddr string
	RaftAddr  string
	AccessKey string
	SecretKey string
	done      chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNode starts `strata server` in a fresh directory with its own ports
// and a fixed admin credential, and waits until /ready answers 200.
func startNode(t testing.TB, extraArgs ...string) *node {
	t.Helper()
	n := &node{
		t:         t,
		dir:       t.TempDir(),
		S3Addr:    freeAddr(t),
		AdminAddr: freeAddr(t),
		RaftAddr:  freeAddr(t),
		AccessKey: "AKE2ETESTADMIN000001",
		SecretKey: "e2e-secret-key-0123456789abcdefghijklmnop",
	}
	n.args = append([]string{"server",
		"--data-dir", filepath.Join(n.dir, "strata-data"),
		"--s3-addr", n.S3Addr,
		"--admin-addr", n.AdminAddr,
		"--raft-addr", n.RaftAddr,
		// Nothing joins these single nodes: any free gossip port will do
		// (the default :9101 would collide between tests).
		"--gossip-addr", "127.0.0.1:0",
		"--bootstrap",
	}, extraArgs...)
	n.env = append(os.Environ(),
		"STRATA_ADMIN_ACCESS_KEY="+n.AccessKey,
		"STRATA_ADMIN_SECRET_KEY="+n.SecretKey,
		"STRATA_CLUSTER_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	)
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *node) start() {
	n.t.Helper()
	n.out = &syncBuffer{}
	n.cmd = exec.Command(testenv.StrataBinary(n.t), n.args...)
	n.cmd.Dir = n.dir
	n.cmd.Env = n.env
	n.cmd.Stdout = n.out
	n.cmd.Stderr = n.out
	if err := n.cmd.Start(); err != nil {
		n.t.Fatalf("start strata: %v", err)
	}
	n.done = make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	n.waitReady(30 * time.Second)
}

func (n *node) waitReady(timeout time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-n.done:
			n.t.Fatalf("strata exited early:\n%s", n.out.String())
		default:
		}
		resp, err := http.Get("http://" + n.AdminAddr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.t.Fatalf("strata not ready after %v:\n%s", timeout, n.out.String())
}

// stop sends SIGTERM and waits (then SIGKILL); safe to call twice.
func (n *node) stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(20 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
		n.t.Errorf("strata did not stop on SIGTERM within 20s:\n%s", n.out.String())
	}
}

// restart stops the process and starts it again on the same dir and ports.
func (n *node) restart() {
	n.t.Helper()
	n.stop()
	n.start()
}

// kill ends the process with SIGKILL (no drain, no shutdown hooks: the
// state on disk is whatever the moment of the kill left) and waits for it;
// start brings it back on the same dir and ports.
func (n *node) kill() {
	n.t.Helper()
	if err := n.cmd.Process.Kill(); err != nil {
		n.t.Fatalf("kill strata: %v", err)
	}
	<-n.done
}

func (n *node) s3URL() string    { return "http://" + n.S3Addr }
func (n *node) adminURL() string { return "http://" + n.AdminAddr }

// client returns an aws-sdk-go-v2 S3 client for the node. The buildable
// HTTP client keeps AWS_CA_BUNDLE (set on these machines) from breaking
// client construction.
func (n *node) client() *s3.Client {
	return newS3Client(n.s3URL(), n.AccessKey, n.SecretKey)
}

func newS3Client(endpoint, ak, sk string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:     aws.String(endpoint),
		Region:           "us-east-1",
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:       awshttp.NewBuildableClient(),
		RetryMaxAttempts: 1,
	})
}

// cli runs `strata <args>` against the node's admin API and returns stdout.
func (n *node) cli(args ...string) (string, error) {
	n.t.Helper()
	cmd := exec.Command(testenv.StrataBinary(n.t), args...)
	cmd.Dir = n.dir
	cmd.Env = append(os.Environ(),
		"STRATA_ADMIN_URL="+n.adminURL(),
		"STRATA_ACCESS_KEY="+n.AccessKey,
		"STRATA_SECRET_KEY="+n.SecretKey,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("strata %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (n *node) mustCLI(args ...string) string {
	n.t.Helper()
	out, err := n.cli(args...)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func readAll(t testing.TB, r io.ReadCloser) []byte {
	t.Helper()
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
