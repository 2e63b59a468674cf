package chaos

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratagw/strata/internal/testenv"
)

const (
	testAccessKey = "AKCHAOSTESTADMIN0001"
	testSecretKey = "chaos-secret-key-0123456789abcdefghijklmn"
)

// TestMain removes the binary built for the tests, if any.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuiltBinary()
	os.Exit(code)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startLocalNode starts one bootstrapped strata process with the dev fs
// backend on free loopback ports and returns its S3 URL.
func startLocalNode(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s3Addr, adminAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(testenv.StrataBinary(t), "server",
		"--data-dir", filepath.Join(dir, "strata-data"),
		"--s3-addr", s3Addr, "--admin-addr", adminAddr, "--raft-addr", freeAddr(t), "--gossip-addr", freeAddr(t),
		"--bootstrap")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"STRATA_ADMIN_ACCESS_KEY="+testAccessKey,
		"STRATA_ADMIN_SECRET_KEY="+testSecretKey,
		"STRATA_CLUSTER_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start strata: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("strata log:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("strata exited early:\n%s", out.String())
		default:
		}
		if resp, err := http.Get("http://" + adminAddr + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return "http://" + s3Addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("strata not ready after 30s:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// TestLoadSingleNode runs the load generator against one real node for a
// few seconds: every operation must succeed (nothing is failing) and the
// history must check linearizable, with every key read at the end.
func TestLoadSingleNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the strata binary")
	}
	url := startLocalNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := LoadConfig{
		Endpoints: []Endpoint{{Name: "local", URL: url}},
		Bucket:    "chaos", AccessKey: testAccessKey, SecretKey: testSecretKey,
		Clients: 6, Keys: 8, OpTimeout: 5 * time.Second,
	}
	if _, err := NewS3Client(url, testAccessKey, testSecretKey).CreateBucket(ctx,
		&s3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		t.Fatal(err)
	}
	h := NewHistory()
	load, err := StartLoad(ctx, cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	t.Logf("load: %s", load.Stop())
	if err := FinalReads(ctx, cfg, h, cfg.Clients); err != nil {
		t.Fatal(err)
	}
	ops := h.Ops()
	counts := map[Kind]int{}
	failedReads := 0
	for _, op := range ops {
		switch {
		case op.Outcome == OK:
			counts[op.Kind]++
		case op.Kind == Get:
			// A GET that meets a write of its key in flight answers 503
			// (retry) by design.
			failedReads++
		default:
			t.Errorf("write failed on a healthy node: %v", op)
		}
	}
	if failedReads > counts[Get]/5 {
		t.Errorf("%d of %d reads failed on a healthy node", failedReads, failedReads+counts[Get])
	}
	for _, k := range []Kind{Put, Delete, Get} {
		if counts[k] < 10 {
			t.Errorf("only %d %s operations in 3s: the load is not running", counts[k], k)
		}
	}
	requireLinearizable(t, ops)
}
