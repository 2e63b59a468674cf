package rpc

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/cluster/clusternet"
	"github.com/stratagw/strata/fsm"
)

// startMuxServer serves svc on the rpc listener of a clusternet mux keyed
// with key, as a node does on port 9100.
func startMuxServer(t *testing.T, svc Service, key []byte) string {
	t.Helper()
	id, err := clusternet.NewIdentity(key)
	if err != nil {
		t.Fatalf("NewIdentity: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := clusternet.NewMux(ln, id, testLogger())
	srv := NewServer(svc, testLogger())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(mux.Listener(clusternet.ProtoRPC)) }()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = mux.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// muxClient dials like a node: mutual TLS with the identity of key.
func muxClient(t *testing.T, key []byte) *Client {
	t.Helper()
	id, err := clusternet.NewIdentity(key)
	if err != nil {
		t.Fatalf("NewIdentity: %v", err)
	}
	c := NewClient(func(ctx context.Context, addr string) (net.Conn, error) {
		return id.Dial(ctx, addr, clusternet.ProtoRPC)
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestOverClusternet(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	otherKey := bytes.Repeat([]byte{8}, 32)
	svc := &fakeService{apply: func(_ context.Context, cmd []byte) (fsm.Result, error) {
		return fsm.Result{Index: uint64(len(cmd)), Previous: previousObject()}, nil
	}}
	addr := startMuxServer(t, svc, key)

	t.Run("same key", func(t *testing.T) {
		c := muxClient(t, key)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Go(func() {
				res, err := c.Apply(testCtx(t, 5*time.Second), addr, make([]byte, i+1))
				switch {
				case err != nil:
					errs <- err
				case res.Index != uint64(i+1) || res.Previous == nil || !res.Previous.ModTime.Equal(epoch):
					errs <- errors.New("wrong result over TLS")
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("other key is not sent", func(t *testing.T) {
		c := muxClient(t, otherKey)
		before := svc.calls.Load()
		_, err := c.Apply(testCtx(t, 5*time.Second), addr, []byte{1})
		if !errors.Is(err, cluster.ErrNotSent) || !errors.Is(err, clusternet.ErrWrongClusterKey) {
			t.Fatalf("Apply with another cluster key = %v, want ErrNotSent and ErrWrongClusterKey", err)
		}
		if svc.calls.Load() != before {
			t.Fatal("the service was called by a node with another key")
		}
	})
}
