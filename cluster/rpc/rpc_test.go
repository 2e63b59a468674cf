package rpc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/fsm"
)

var epoch = time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC)

func previousObject() *fsm.Object {
	return &fsm.Object{
		Bucket: "photos", Key: "2026/cat.jpg", Size: 12345, ETag: "0123456789abcdef0123456789abcdef-3",
		Meta: fsm.ObjectMeta{
			ContentType: "image/jpeg", CacheControl: "max-age=60",
			UserMeta: map[string]string{"camera": "x100", "ünïcode": "välue"},
		},
		Owner:     "AKIDEXAMPLE",
		ModTime:   epoch,
		Replicas:  []fsm.Replica{{BackendID: "be-1", Bucket: "photos-0001", Key: "2026/cat.jpg", ETag: "e1"}, {BackendID: "be-2", Bucket: "photos-0002", Key: "2026/cat.jpg", ETag: "e2"}},
		PartSizes: []int64{5 << 20, 5 << 20, 2345},
	}
}

func TestApplyRoundTrip(t *testing.T) {
	fsmErr := &fsm.Error{Code: fsm.CodeBucketExists, Message: "bucket photos exists", Owner: "AKIDOTHER"}
	tests := []struct {
		name    string
		res     fsm.Result
		retErr  error // what ApplyLocal returns besides res
		wantRes fsm.Result
	}{
		{
			name:    "previous object",
			res:     fsm.Result{Previous: previousObject(), Index: 42},
			wantRes: fsm.Result{Previous: previousObject(), Index: 42},
		},
		{
			name:    "no previous",
			res:     fsm.Result{Index: 7},
			wantRes: fsm.Result{Index: 7},
		},
		{
			name:    "fsm error returned like Node does",
			res:     fsm.Result{Err: fsmErr, Index: 9},
			retErr:  fsmErr,
			wantRes: fsm.Result{Err: fsmErr, Index: 9},
		},
		{
			name:    "fsm error and previous",
			res:     fsm.Result{Err: fsmErr, Previous: previousObject(), Index: 10},
			retErr:  fsmErr,
			wantRes: fsm.Result{Err: fsmErr, Previous: previousObject(), Index: 10},
		},
		{
			name:    "wrapped fsm error only in the error",
			res:     fsm.Result{Index: 11},
			retErr:  fmt.Errorf("cluster: %w", fsmErr),
			wantRes: fsm.Result{Err: fsmErr, Index: 11},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{apply: func(context.Context, []byte) (fsm.Result, error) { return tt.res, tt.retErr }}
			addr := startServer(t, svc)
			c, _ := newClient(t)
			cmd, err := fsm.Encode(fsm.CmdCreateBucket, fsm.CreateBucket{Bucket: fsm.Bucket{Name: "photos", CreatedAt: epoch}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Apply(testCtx(t, 5*time.Second), addr, cmd)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !reflect.DeepEqual(got, tt.wantRes) {
				t.Fatalf("result mismatch:\n got %#v\nwant %#v", got, tt.wantRes)
			}
			if got.Err != nil && !errors.Is(got.Err, fsm.ErrCode(fsm.CodeBucketExists)) {
				t.Fatalf("Result.Err %v does not match its code", got.Err)
			}
			if len(svc.cmds) != 1 || !bytes.Equal(svc.cmds[0], cmd) {
				t.Fatalf("service got commands %q, want exactly [%q]", svc.cmds, cmd)
			}
		})
	}
}

func TestReadIndexRemoveServerStatus(t *testing.T) {
	want := cluster.NodeStatus{
		NodeID: "n1", RaftAddr: "10.0.0.1:9100", GossipAddr: "10.0.0.1:9101",
		S3URL: "http://10.0.0.1:9000", AdminURL: "http://10.0.0.1:9001",
		State: "Leader", AppliedIndex: 1 << 40, ClusterID: "c-123",
	}
	svc := &fakeService{
		readIndex: func(context.Context) (uint64, error) { return 1<<63 + 5, nil },
		status:    func(context.Context) (cluster.NodeStatus, error) { return want, nil },
	}
	addr := startServer(t, svc)
	c, _ := newClient(t)
	ctx := testCtx(t, 5*time.Second)

	idx, err := c.ReadIndex(ctx, addr)
	if err != nil || idx != 1<<63+5 {
		t.Fatalf("ReadIndex = %d, %v; want %d", idx, err, uint64(1<<63+5))
	}
	if err := c.RemoveServer(ctx, addr, "node-3"); err != nil {
		t.Fatalf("RemoveServer: %v", err)
	}
	if !reflect.DeepEqual(svc.removed, []string{"node-3"}) {
		t.Fatalf("service removed %q, want [node-3]", svc.removed)
	}
	st, err := c.Status(ctx, addr)
	if err != nil || st != want {
		t.Fatalf("Status = %+v, %v; want %+v", st, err, want)
	}
}

// TestErrorKinds sends every service error through every endpoint and
// checks the sentinel, the kind and that the message survives.
func TestErrorKinds(t *testing.T) {
	kinds := []struct {
		name     string
		err      error
		kind     string
		sentinel error // nil: must match none of the cluster sentinels
	}{
		{"not leader", fmt.Errorf("%w (leader is n2 at 10.0.0.2:9100)", cluster.ErrNotLeader), KindNotLeader, cluster.ErrNotLeader},
		{"no leader", fmt.Errorf("wait: %w", cluster.ErrNoLeader), KindNotLeader, cluster.ErrNotLeader},
		{"shutdown", fmt.Errorf("cluster: apply: %w", cluster.ErrShutdown), KindShutdown, cluster.ErrShutdown},
		{"timeout", fmt.Errorf("cluster: apply: %w: enqueue", cluster.ErrTimeout), KindTimeout, cluster.ErrTimeout},
		{"deadline", fmt.Errorf("wait: %w", context.DeadlineExceeded), KindTimeout, cluster.ErrTimeout},
		{"internal", errors.New("state machine: disk on fire"), KindInternal, nil},
	}
	endpoints := []struct {
		name string
		call func(c *Client, ctx context.Context, addr string) error
	}{
		{"apply", func(c *Client, ctx context.Context, addr string) error {
			_, err := c.Apply(ctx, addr, []byte{1, 2, 3})
			return err
		}},
		{"read-index", func(c *Client, ctx context.Context, addr string) error {
			_, err := c.ReadIndex(ctx, addr)
			return err
		}},
		{"remove-server", func(c *Client, ctx context.Context, addr string) error {
			return c.RemoveServer(ctx, addr, "n3")
		}},
		{"status", func(c *Client, ctx context.Context, addr string) error {
			_, err := c.Status(ctx, addr)
			return err
		}},
	}
	sentinels := []error{cluster.ErrNotLeader, cluster.ErrShutdown, cluster.ErrTimeout, cluster.ErrNotSent, ErrBadRequest}
	for _, k := range kinds {
		svc := &fakeService{
			apply:     func(context.Context, []byte) (fsm.Result, error) { return fsm.Result{}, k.err },
			readIndex: func(context.Context) (uint64, error) { return 0, k.err },
			remove:    func(context.Context, string) error { return k.err },
			status:    func(context.Context) (cluster.NodeStatus, error) { return cluster.NodeStatus{}, k.err },
		}
		addr := startServer(t, svc)
		c, _ := newClient(t)
		for _, ep := range endpoints {
			t.Run(k.name+"/"+ep.name, func(t *testing.T) {
				err := ep.call(c, testCtx(t, 5*time.Second), addr)
				if err == nil {
					t.Fatal("error = nil")
				}
				var re *RemoteError
				if !errors.As(err, &re) || re.Kind != k.kind {
					t.Fatalf("error %v: want a RemoteError of kind %s", err, k.kind)
				}
				if !strings.Contains(err.Error(), k.err.Error()) {
					t.Fatalf("error %q lost the peer's message %q", err, k.err)
				}
				for _, s := range sentinels {
					if got, want := errors.Is(err, s), s == k.sentinel; got != want {
						t.Fatalf("errors.Is(%v, %v) = %v, want %v", err, s, got, want)
					}
				}
			})
		}
	}
}

// TestBadRequests speaks raw HTTP to the server: malformed requests get a
// bad_request answer and never reach the service.
func TestBadRequests(t *testing.T) {
	svc := &fakeService{}
	addr := startServer(t, svc)
	garbage := []byte{0xc1, 0xc1, 0xc1} // 0xc1 is never used in msgpack
	tests := []struct {
		name       string
		method     string
		path       string
		header     map[string]string
		body       []byte
		wantStatus int
	}{
		{"unknown path", http.MethodPost, "/v1/nope", nil, []byte{1}, http.StatusNotFound},
		{"GET apply", http.MethodGet, pathApply, nil, nil, http.StatusMethodNotAllowed},
		{"empty command", http.MethodPost, pathApply, nil, nil, http.StatusBadRequest},
		{"remove-server garbage", http.MethodPost, pathRemoveServer, nil, garbage, http.StatusBadRequest},
		{"remove-server no id", http.MethodPost, pathRemoveServer, nil, mustMarshal(t, removeServerRequest{}), http.StatusBadRequest},
		{"bad timeout header", http.MethodPost, pathApply, map[string]string{headerTimeout: "soon"}, []byte{1}, http.StatusBadRequest},
		{"negative timeout header", http.MethodPost, pathReadIndex, map[string]string{headerTimeout: "-1s"}, nil, http.StatusBadRequest},
		{"body too large", http.MethodPost, pathApply, nil, make([]byte, MaxCommandSize+1), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(testCtx(t, 10*time.Second), tt.method, "http://"+addr+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			defer func() { _ = resp.Body.Close() }()
			data, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, data, tt.wantStatus)
			}
			var we wireError
			if err := msgpack.Unmarshal(data, &we); err != nil || we.Kind != KindBadRequest || we.Message == "" {
				t.Fatalf("body %q (%v): want a bad_request wire error with a message", data, err)
			}
		})
	}
	if n := svc.calls.Load(); n != 0 {
		t.Fatalf("service was called %d times for malformed requests", n)
	}
}

func TestBodyLimit(t *testing.T) {
	var gotLen atomic.Int64
	svc := &fakeService{apply: func(_ context.Context, cmd []byte) (fsm.Result, error) {
		gotLen.Store(int64(len(cmd)))
		return fsm.Result{Index: 1}, nil
	}}
	addr := startServer(t, svc)
	c, d := newClient(t)

	_, err := c.Apply(testCtx(t, 5*time.Second), addr, make([]byte, MaxCommandSize+1))
	if !errors.Is(err, ErrCommandTooLarge) {
		t.Fatalf("Apply(too large) = %v, want ErrCommandTooLarge", err)
	}
	if d.dials.Load() != 0 || svc.calls.Load() != 0 {
		t.Fatalf("a too large command was sent (dials %d, calls %d)", d.dials.Load(), svc.calls.Load())
	}

	if _, err := c.Apply(testCtx(t, 10*time.Second), addr, make([]byte, MaxCommandSize)); err != nil {
		t.Fatalf("Apply(exactly MaxCommandSize): %v", err)
	}
	if gotLen.Load() != MaxCommandSize {
		t.Fatalf("service got %d bytes, want %d", gotLen.Load(), MaxCommandSize)
	}
}

func TestClientEmptyRemoveIDIsBadRequest(t *testing.T) {
	svc := &fakeService{}
	addr := startServer(t, svc)
	c, _ := newClient(t)
	err := c.RemoveServer(testCtx(t, 5*time.Second), addr, "")
	if !errors.Is(err, ErrBadRequest) {
		t.Fatalf("RemoveServer(\"\") = %v, want ErrBadRequest", err)
	}
	if svc.calls.Load() != 0 {
		t.Fatal("service called for an empty id")
	}
}

func TestNotSent(t *testing.T) {
	// A port nothing listens on: take one, then close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	_ = ln.Close()

	errHandshake := errors.New("the peer at X uses a different cluster key")
	refusing := NewClient(func(context.Context, string) (net.Conn, error) {
		return nil, fmt.Errorf("handshake: %w", errHandshake)
	})
	t.Cleanup(func() { _ = refusing.Close() })
	plain, _ := newClient(t)

	tests := []struct {
		name string
		c    *Client
		addr string
		also error
	}{
		{"connection refused", plain, deadAddr, nil},
		{"handshake failed", refusing, "127.0.0.1:1", errHandshake},
		{"unparsable address", plain, "no such host:x:y", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 5*time.Second)
			calls := map[string]error{}
			_, calls["apply"] = tt.c.Apply(ctx, tt.addr, []byte{1})
			_, calls["read-index"] = tt.c.ReadIndex(ctx, tt.addr)
			calls["remove-server"] = tt.c.RemoveServer(ctx, tt.addr, "n2")
			_, calls["status"] = tt.c.Status(ctx, tt.addr)
			for name, err := range calls {
				if !errors.Is(err, cluster.ErrNotSent) {
					t.Errorf("%s: error %v, want ErrNotSent", name, err)
				}
				if tt.also != nil && !errors.Is(err, tt.also) {
					t.Errorf("%s: error %v lost the dialer's error %v", name, err, tt.also)
				}
			}
		})
	}
}

// rawServer accepts connections and runs handle on each, for the failure
// modes a real Server never shows.
func rawServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() { handle(conn) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestHangingPeerIsAmbiguous(t *testing.T) {
	var requests atomic.Int64
	addr := rawServer(t, func(conn net.Conn) {
		// Read the whole request, then never answer.
		if _, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
			requests.Add(1)
		}
		_, _ = io.Copy(io.Discard, conn)
	})
	c, _ := newClient(t)
	start := time.Now()
	_, err := c.Apply(testCtx(t, 300*time.Millisecond), addr, []byte{1})
	wantAmbiguous(t, err)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, cluster.ErrTimeout) {
		t.Fatalf("error %v: want the context deadline and ErrTimeout", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("Apply took %v despite a 300ms deadline", el)
	}
	if requests.Load() != 1 {
		t.Fatalf("peer saw %d requests, want 1", requests.Load())
	}
}

// TestNoRetryAfterWrite: a peer that reads a request and drops the
// connection without answering may have applied it, so the client must
// neither retry the apply nor claim it was not sent. Read-index, which is
// safe to replay, is retried on a fresh connection.
func TestNoRetryAfterWrite(t *testing.T) {
	var requests atomic.Int64
	// Each connection answers its first request and drops on its second.
	addr := rawServer(t, func(conn net.Conn) {
		br := bufio.NewReader(conn)
		for n := 1; ; n++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			requests.Add(1)
			if n > 1 {
				_ = conn.Close()
				return
			}
			body := mustMarshal(t, applyResponse{Index: 5})
			_, _ = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
	})

	t.Run("apply", func(t *testing.T) {
		requests.Store(0)
		c, d := newClient(t)
		if _, err := c.Apply(testCtx(t, 5*time.Second), addr, []byte{1}); err != nil {
			t.Fatalf("first Apply: %v", err)
		}
		_, err := c.Apply(testCtx(t, 5*time.Second), addr, []byte{2})
		wantAmbiguous(t, err)
		if requests.Load() != 2 || d.dials.Load() != 1 {
			t.Fatalf("peer saw %d requests over %d dials, want 2 over 1 (no retry of the apply)", requests.Load(), d.dials.Load())
		}
	})
	t.Run("read-index", func(t *testing.T) {
		requests.Store(0)
		c, d := newClient(t)
		for i := range 2 {
			if _, err := c.ReadIndex(testCtx(t, 5*time.Second), addr); err != nil {
				t.Fatalf("ReadIndex %d: %v", i, err)
			}
		}
		if requests.Load() != 3 || d.dials.Load() != 2 {
			t.Fatalf("peer saw %d requests over %d dials, want 3 over 2 (one replay)", requests.Load(), d.dials.Load())
		}
	})
}

// TestServerContextEnds: the service's context ends when the client's
// deadline passes or the client gives up, so the leader does not keep
// working for nobody.
func TestServerContextEnds(t *testing.T) {
	tests := []struct {
		name   string
		ctx    func(t *testing.T) (context.Context, context.CancelFunc)
		wantIs error
	}{
		{"client deadline", func(*testing.T) (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}, cluster.ErrTimeout}, // the peer's answer (it got the deadline too) or the client's own deadline
		{"client cancels", func(*testing.T) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ended := make(chan error, 1)
			svc := &fakeService{apply: func(ctx context.Context, _ []byte) (fsm.Result, error) {
				select {
				case <-ctx.Done():
					ended <- ctx.Err()
				case <-time.After(10 * time.Second):
					ended <- errors.New("service context never ended")
				}
				return fsm.Result{}, ctx.Err()
			}}
			addr := startServer(t, svc)
			c, _ := newClient(t)
			ctx, cancel := tt.ctx(t)
			defer cancel()
			_, err := c.Apply(ctx, addr, []byte{1})
			wantAmbiguous(t, err)
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("client error %v, want %v", err, tt.wantIs)
			}
			select {
			case err := <-ended:
				if err == nil || !strings.Contains(err.Error(), "context") {
					t.Fatalf("service context: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("service still running 5s after the client gave up")
			}
		})
	}
}

func TestReadHeaderTimeout(t *testing.T) {
	addr := startServer(t, &fakeService{}, func(s *Server) { s.http.ReadHeaderTimeout = 100 * time.Millisecond })
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := io.WriteString(conn, "POST /v1/apply HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("server kept a half-sent request open for %v", time.Since(start))
	}
}

// TestConcurrentApplies runs 64 applies at once, twice: every one gets its
// own answer, and the second round reuses the first round's connections.
func TestConcurrentApplies(t *testing.T) {
	const n = 64
	var (
		mu       sync.Mutex
		inFlight int
		all      = make(chan struct{})
	)
	svc := &fakeService{apply: func(ctx context.Context, cmd []byte) (fsm.Result, error) {
		// Hold every call until all n are in flight, so the client needs n
		// connections at once.
		mu.Lock()
		inFlight++
		if inFlight == n {
			close(all)
		}
		ch := all
		mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fsm.Result{}, ctx.Err()
		}
		i, err := strconv.Atoi(string(cmd))
		if err != nil {
			return fsm.Result{}, err
		}
		return fsm.Result{Index: uint64(1000 + i), Previous: &fsm.Object{Key: string(cmd), ModTime: epoch}}, nil
	}}
	addr := startServer(t, svc)
	c, d := newClient(t)

	round := func() {
		mu.Lock()
		inFlight, all = 0, make(chan struct{})
		mu.Unlock()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				res, err := c.Apply(testCtx(t, 10*time.Second), addr, []byte(strconv.Itoa(i)))
				switch {
				case err != nil:
					errs <- fmt.Errorf("apply %d: %w", i, err)
				case res.Index != uint64(1000+i) || res.Previous == nil || res.Previous.Key != strconv.Itoa(i):
					errs <- fmt.Errorf("apply %d: got someone else's result %+v", i, res)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	round()
	if got := d.dials.Load(); got != n {
		t.Fatalf("first round dialled %d connections, want %d", got, n)
	}
	// A connection goes back to the pool just after its answer was read,
	// so a few may still be on their way when the next round starts: a
	// handful of new dials is a race, dozens mean the pool is too small.
	time.Sleep(50 * time.Millisecond)
	round()
	if got := d.dials.Load() - n; got > n/8 {
		t.Fatalf("second round dialled %d new connections, want (about) 0 with a pool of %d", got, n)
	}
}

func TestNonStrataAnswer(t *testing.T) {
	// Something that is not a strata node answers with plain text.
	addr := rawServer(t, func(conn net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
			return
		}
		_, _ = io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops!")
		_ = conn.Close()
	})
	c, _ := newClient(t)
	_, err := c.Status(testCtx(t, 5*time.Second), addr)
	var re *RemoteError
	if !errors.As(err, &re) || re.Kind != KindInternal || !strings.Contains(err.Error(), "502") || !strings.Contains(err.Error(), "oops!") {
		t.Fatalf("error %v: want an internal RemoteError naming the status and body", err)
	}
	wantAmbiguous(t, err)
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
