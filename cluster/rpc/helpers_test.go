package rpc

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/fsm"
)

// testLogger hides the server's logs; STRATA_TEST_LOG=1 shows them.
func testLogger() *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fakeService is the Service seam: each call runs the matching function
// (or answers a zero value) and is recorded.
type fakeService struct {
	apply     func(ctx context.Context, cmd []byte) (fsm.Result, error)
	readIndex func(ctx context.Context) (uint64, error)
	remove    func(ctx context.Context, id string) error
	status    func(ctx context.Context) (cluster.NodeStatus, error)

	mu      sync.Mutex
	cmds    [][]byte
	removed []string
	calls   atomic.Int64
}

func (f *fakeService) ApplyLocal(ctx context.Context, cmd []byte) (fsm.Result, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.cmds = append(f.cmds, cmd)
	f.mu.Unlock()
	if f.apply == nil {
		return fsm.Result{Index: 1}, nil
	}
	return f.apply(ctx, cmd)
}

func (f *fakeService) ReadIndex(ctx context.Context) (uint64, error) {
	f.calls.Add(1)
	if f.readIndex == nil {
		return 0, nil
	}
	return f.readIndex(ctx)
}

func (f *fakeService) RemoveServer(ctx context.Context, id string) error {
	f.calls.Add(1)
	f.mu.Lock()
	f.removed = append(f.removed, id)
	f.mu.Unlock()
	if f.remove == nil {
		return nil
	}
	return f.remove(ctx, id)
}

func (f *fakeService) Status(ctx context.Context) (cluster.NodeStatus, error) {
	f.calls.Add(1)
	if f.status == nil {
		return cluster.NodeStatus{}, nil
	}
	return f.status(ctx)
}

// startServer serves svc on a fresh loopback port and returns its address;
// mods adjust the server before it serves. Cleanup closes it and checks
// that Serve returned nil.
func startServer(t *testing.T, svc Service, mods ...func(*Server)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := NewServer(svc, testLogger())
	for _, m := range mods {
		m(srv)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve returned %v after Close, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
	})
	return ln.Addr().String()
}

// countingDialer is a plain TCP Dialer that counts its dials.
type countingDialer struct{ dials atomic.Int64 }

func (d *countingDialer) dial(ctx context.Context, addr string) (net.Conn, error) {
	d.dials.Add(1)
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", addr)
}

// newClient returns a client over plain TCP and its dial counter.
func newClient(t *testing.T) (*Client, *countingDialer) {
	t.Helper()
	d := &countingDialer{}
	c := NewClient(d.dial)
	t.Cleanup(func() { _ = c.Close() })
	return c, d
}

// testCtx is a context for one call, cancelled on cleanup.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// wantAmbiguous checks an error after the request may have been delivered:
// it must not claim the request was not sent.
func wantAmbiguous(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("error = nil, want a failure")
	}
	if errors.Is(err, cluster.ErrNotSent) {
		t.Fatalf("error %v wraps ErrNotSent, but the request may have been delivered", err)
	}
}
