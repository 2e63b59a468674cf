package clusternet

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fixedID returns a cluster id source that always says id.
func fixedID(id string) func() string { return func() string { return id } }

// TestClusterIDMatch: connections between nodes of the same cluster, or
// where either side has no id yet, go through on both protocols; nodes of
// different clusters refuse each other on both sides, saying why.
func TestClusterIDMatch(t *testing.T) {
	key := newKey(t)
	cases := []struct {
		name           string
		server, client string
		ok             bool
	}{
		{"same id", "c-1", "c-1", true},
		{"server has none", "", "c-1", true},
		{"client has none", "c-1", "", true},
		{"neither has one", "", "", true},
		{"different ids", "c-1", "c-2", false},
	}
	for _, tc := range cases {
		for _, proto := range []string{ProtoRaft, ProtoRPC} {
			t.Run(tc.name+"/"+proto, func(t *testing.T) {
				sid := newID(t, key)
				sid.SetClusterID(fixedID(tc.server))
				m, logs := startMux(t, sid, 2*time.Second)
				addr := m.Addr().String()
				cid := newID(t, key)
				cid.SetClusterID(fixedID(tc.client))

				c, err := cid.Dial(ctxTimeout(t, 5*time.Second), addr, proto)
				if tc.ok {
					if err != nil {
						t.Fatalf("Dial: %v", err)
					}
					defer func() { _ = c.Close() }()
					checkDelivered(t, m.Listener(proto), c)
					return
				}
				if err == nil {
					_ = c.Close()
					t.Fatal("Dial to another cluster succeeded")
				}
				if !errors.Is(err, ErrOtherCluster) || !errors.Is(err, ErrDial) || errors.Is(err, ErrWrongClusterKey) {
					t.Fatalf("error %v: want ErrOtherCluster and ErrDial only", err)
				}
				if want := "the peer at " + addr + " belongs to cluster c-1, this node to cluster c-2"; !strings.Contains(err.Error(), want) {
					t.Fatalf("client error %q does not say %q", err, want)
				}
				waitLog(t, logs, "belongs to cluster c-2, this node to cluster c-1")
				if !strings.Contains(logs.String(), "the peer at 127.0.0.1:") || !strings.Contains(logs.String(), "level=WARN") {
					t.Fatalf("server log does not warn naming the peer:\n%s", logs)
				}
				select {
				case r := <-acceptAsync(m.Listener(proto)):
					t.Fatalf("a connection from another cluster was delivered (err %v)", r.err)
				case <-time.After(100 * time.Millisecond):
				}
			})
		}
	}
}

// checkDelivered asserts that c arrives on l and carries bytes both ways.
func checkDelivered(t *testing.T, l net.Listener, c net.Conn) {
	t.Helper()
	var r acceptResult
	select {
	case r = <-acceptAsync(l):
	case <-time.After(2 * time.Second):
		t.Fatal("connection not delivered")
	}
	if r.err != nil {
		t.Fatalf("Accept: %v", r.err)
	}
	s := r.conn
	defer func() { _ = s.Close() }()
	_ = s.SetDeadline(time.Now().Add(2 * time.Second))
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(s, got); err != nil || string(got) != "ping" {
		t.Fatalf("server read %q, %v (preamble leaked into the stream?)", got, err)
	}
	if _, err := s.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "pong" {
		t.Fatalf("client read %q, %v", got, err)
	}
}

// TestClusterIDChanges: the id is read per connection, so a node that
// learns its cluster after building its identity starts refusing other
// clusters from then on.
func TestClusterIDChanges(t *testing.T) {
	key := newKey(t)
	var serverID, clientID atomic.Value
	serverID.Store("")
	clientID.Store("")
	load := func(v *atomic.Value) func() string { return func() string { return v.Load().(string) } }
	sid := newID(t, key)
	sid.SetClusterID(load(&serverID))
	m, _ := startMux(t, sid, 2*time.Second)
	echo(t, m.Listener(ProtoRPC))
	cid := newID(t, key)
	cid.SetClusterID(load(&clientID))

	steps := []struct {
		server, client string
		ok             bool
	}{
		{"", "", true},
		{"c-1", "", true},
		{"c-1", "c-2", false},
		{"c-1", "c-1", true},
		{"c-3", "c-1", false},
	}
	for i, st := range steps {
		serverID.Store(st.server)
		clientID.Store(st.client)
		c, err := cid.Dial(ctxTimeout(t, 5*time.Second), m.Addr().String(), ProtoRPC)
		if err == nil {
			// Closed before echo's cleanup waits for its handlers.
			t.Cleanup(func() { _ = c.Close() })
		}
		if st.ok != (err == nil) {
			t.Fatalf("step %d (server %q, client %q): Dial error %v, want ok=%v", i, st.server, st.client, err, st.ok)
		}
		if err != nil {
			if !errors.Is(err, ErrOtherCluster) {
				t.Fatalf("step %d: %v does not wrap ErrOtherCluster", i, err)
			}
			continue
		}
		echoOnce(t, c)
		_ = c.Close()
	}

	// nil goes back to announcing no id.
	cid.SetClusterID(nil)
	c, err := cid.Dial(ctxTimeout(t, 5*time.Second), m.Addr().String(), ProtoRPC)
	if err != nil {
		t.Fatalf("Dial after SetClusterID(nil): %v", err)
	}
	echoOnce(t, c)
	_ = c.Close()
}

func echoOnce(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 2)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "hi" {
		t.Fatalf("echo %q, %v", got, err)
	}
}

// rawClient completes the TLS handshake with key's identity and returns the
// connection before any preamble, so a test can speak the preamble itself.
func rawClient(t *testing.T, id *Identity, addr, proto string) *tls.Conn {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, id.clientConfig(addr, proto))
	t.Cleanup(func() { _ = c.Close() })
	if err := c.HandshakeContext(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return c
}

// TestServerChecksClusterID: the mux enforces the cluster id and the
// preamble's bounds itself, against a client that ignores the server's id
// and goes on writing.
func TestServerChecksClusterID(t *testing.T) {
	key := newKey(t)
	sid := newID(t, key)
	sid.SetClusterID(fixedID("c-1"))
	cases := []struct {
		name     string
		preamble []byte
		log      string
	}{
		{"other cluster", append([]byte{3}, "c-2"...), "belongs to cluster c-2, this node to cluster c-1"},
		{"too long", append([]byte{200}, bytes.Repeat([]byte("a"), 200)...), "peer announced a 200-byte cluster id"},
		{"not printable", append([]byte{3}, "c\n1"...), "byte 0x0a"},
		{"truncated", []byte{5, 'c'}, "cluster id exchange failed"},
	}
	for _, tc := range cases {
		for _, proto := range []string{ProtoRaft, ProtoRPC} {
			t.Run(tc.name+"/"+proto, func(t *testing.T) {
				m, logs := startMux(t, sid, 500*time.Millisecond)
				accepted := acceptAsync(m.Listener(proto))
				c := rawClient(t, newID(t, key), m.Addr().String(), proto)
				if _, err := c.Write(tc.preamble); err != nil {
					t.Fatal(err)
				}
				if tc.name != "truncated" {
					_, _ = c.Write([]byte("AppendEntries please"))
				}
				// The server's own id comes first, then the close.
				_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
				got, err := io.ReadAll(c)
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("server kept the connection open")
				}
				if want := append([]byte{3}, "c-1"...); !bytes.Equal(got, want) {
					t.Fatalf("server sent %q, want only its id %q", got, want)
				}
				waitLog(t, logs, tc.log)
				select {
				case r := <-accepted:
					t.Fatalf("connection delivered (err %v)", r.err)
				default:
				}
			})
		}
	}
}

// peerNoPreamble is a server with the cluster key that completes TLS but
// never sends its cluster id.
func peerNoPreamble(t *testing.T, id *Identity) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		var held []net.Conn
		defer func() {
			for _, c := range held {
				_ = c.Close()
			}
		}()
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			c := tls.Server(raw, id.serverConfig(raw.RemoteAddr().String()))
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_ = c.Handshake()
			held = append(held, c)
		}
	}()
	return ln.Addr().String()
}

// TestDialPreambleBounded: a peer that never sends its id cannot hold Dial
// beyond the context's deadline or cancellation.
func TestDialPreambleBounded(t *testing.T) {
	key := newKey(t)
	addr := peerNoPreamble(t, newID(t, key))
	id := newID(t, key)

	start := time.Now()
	_, err := id.Dial(ctxTimeout(t, 300*time.Millisecond), addr, ProtoRaft)
	if !errors.Is(err, ErrDial) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want ErrDial and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Dial took %v", d)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	time.AfterFunc(300*time.Millisecond, cancel)
	start = time.Now()
	_, err = id.Dial(ctx, addr, ProtoRaft)
	if !errors.Is(err, ErrDial) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial: %v, want ErrDial and Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("canceled Dial took %v", d)
	}
}

// TestSilentAfterHandshake: a client that authenticates but never sends its
// id is closed at the handshake deadline and frees its slot.
func TestSilentAfterHandshake(t *testing.T) {
	key := newKey(t)
	const hsTimeout = 300 * time.Millisecond
	m, logs := startMux(t, newID(t, key), hsTimeout)
	c := rawClient(t, newID(t, key), m.Addr().String(), ProtoRPC)
	start := time.Now()
	waitClosedByPeer(t, c, 3*time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed after %v", d)
	}
	waitLog(t, logs, "cluster id exchange failed")
	waitSlots(t, m, 0)
}

// waitSlots waits until exactly n handshakes hold a slot.
func waitSlots(t *testing.T, m *Mux, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for len(m.slots) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d handshakes in progress, want %d", len(m.slots), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHandshakeLimit: with every handshake slot held by silent clients, a
// further connection is closed at once; a good client gets through as soon
// as a slot frees up, long before the silent ones time out.
func TestHandshakeLimit(t *testing.T) {
	key := newKey(t)
	const limit = 4
	const hsTimeout = 5 * time.Second
	opts := defaultMuxOptions()
	opts.maxHandshakes, opts.handshakeTimeout = limit, hsTimeout
	m, logs := startMuxOpts(t, newID(t, key), opts)
	addr := m.Addr().String()
	echo(t, m.Listener(ProtoRaft))
	start := time.Now()

	var silent []net.Conn
	for range limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		silent = append(silent, c)
	}
	waitSlots(t, m, limit)

	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = extra.Close() }()
	waitClosedByPeer(t, extra, time.Second)
	waitLog(t, logs, "too many handshakes in progress")

	id := newID(t, key)
	if c, err := id.Dial(ctxTimeout(t, time.Second), addr, ProtoRaft); err == nil {
		_ = c.Close()
		t.Fatal("Dial succeeded with every handshake slot taken")
	} else if !errors.Is(err, ErrDial) {
		t.Fatalf("Dial: %v, want ErrDial", err)
	}

	_ = silent[0].Close() // its handshake fails at once and frees the slot
	waitSlots(t, m, limit-1)
	c, err := id.Dial(ctxTimeout(t, time.Second), addr, ProtoRaft)
	if err != nil {
		t.Fatalf("Dial after a slot freed up: %v", err)
	}
	defer func() { _ = c.Close() }()
	echoOnce(t, c)
	if d := time.Since(start); d >= hsTimeout {
		t.Fatalf("took %v: the good client waited for the silent ones to time out", d)
	}
	// The good client's slot was returned once it was authenticated.
	waitSlots(t, m, limit-1)
}

// TestRefusalLogRateLimited: a peer that keeps retrying with the wrong key
// or from another cluster is warned about once per interval, not per
// attempt.
func TestRefusalLogRateLimited(t *testing.T) {
	key := newKey(t)
	sid := newID(t, key)
	sid.SetClusterID(fixedID("c-1"))
	m, logs := startMux(t, sid, 2*time.Second)
	addr := m.Addr().String()
	stranger := newID(t, newKey(t))
	other := newID(t, key)
	other.SetClusterID(fixedID("c-2"))

	const attempts = 3
	for range attempts {
		if _, err := stranger.Dial(ctxTimeout(t, 2*time.Second), addr, ProtoRaft); !errors.Is(err, ErrWrongClusterKey) {
			t.Fatalf("stranger Dial: %v", err)
		}
		if _, err := other.Dial(ctxTimeout(t, 2*time.Second), addr, ProtoRaft); !errors.Is(err, ErrOtherCluster) {
			t.Fatalf("other cluster Dial: %v", err)
		}
	}
	// Wait until the server has judged every attempt.
	waitSuppressed(t, m, "key 127.0.0.1", attempts-1)
	waitSuppressed(t, m, "cluster 127.0.0.1", attempts-1)
	out := logs.String()
	if n := strings.Count(out, "uses a different cluster key"); n != 1 {
		t.Fatalf("%d wrong-key warnings, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "belongs to cluster"); n != 1 {
		t.Fatalf("%d other-cluster warnings, want 1:\n%s", n, out)
	}
}

func waitSuppressed(t *testing.T, m *Mux, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		m.logs.mu.Lock()
		got := -1
		if e, ok := m.logs.seen[key]; ok {
			got = e.suppressed
		}
		m.logs.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("limiter %q suppressed %d, want %d", key, got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLogLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLogLimiter(time.Minute, 2)
	l.now = func() time.Time { return now }
	type step struct {
		advance    time.Duration
		key        string
		ok         bool
		suppressed int
	}
	steps := []step{
		{0, "a", true, 0},
		{0, "a", false, 0},
		{30 * time.Second, "a", false, 0},
		{0, "b", true, 0},
		{0, "c", true, 0}, // beyond maxKeys: logged under the overflow key
		{0, "d", false, 0},
		{30 * time.Second, "a", true, 2},
		{0, "b", false, 0},
		{0, "e", false, 0},          // overflow still within its interval
		{time.Minute, "f", true, 0}, // pruned: room again
		{0, "f", false, 0},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		ok, n := l.allow(s.key)
		if ok != s.ok || n != s.suppressed {
			t.Fatalf("step %d (%q): allow = %v, %d; want %v, %d", i, s.key, ok, n, s.ok, s.suppressed)
		}
	}
}

func TestValidClusterID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"", true},
		{"0123456789abcdef0123456789abcdef", true},
		{strings.Repeat("x", maxClusterIDLen), true},
		{strings.Repeat("x", maxClusterIDLen+1), false},
		{"a b", false},
		{"a\x00", false},
		{"é", false},
	} {
		if err := validClusterID(tc.id); (err == nil) != tc.ok {
			t.Errorf("validClusterID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
	}
	// A node whose own id is invalid fails loudly instead of announcing it.
	key := newKey(t)
	m, _ := startMux(t, newID(t, key), time.Second)
	id := newID(t, key)
	id.SetClusterID(fixedID("bad id"))
	if _, err := id.Dial(ctxTimeout(t, 2*time.Second), m.Addr().String(), ProtoRPC); err == nil || !strings.Contains(err.Error(), "this node's cluster id") {
		t.Fatalf("Dial with an invalid own id: %v", err)
	}
}

// TestLateClusterIDCheck: a connection set up while this node had no id
// is checked again once it learns one. A mismatch closes it, and the bytes
// that were on their way are not handed out; a match leaves it alone.
func TestLateClusterIDCheck(t *testing.T) {
	key := newKey(t)
	cases := []struct {
		name    string
		learned string
		ok      bool
	}{
		{"learns the peer's cluster", "c-1", true},
		{"learns another cluster", "c-2", false},
	}
	for _, tc := range cases {
		t.Run("server/"+tc.name, func(t *testing.T) {
			var serverID atomic.Value
			serverID.Store("")
			sid := newID(t, key)
			sid.SetClusterID(func() string { return serverID.Load().(string) })
			m, _ := startMux(t, sid, 2*time.Second)
			cid := newID(t, key)
			cid.SetClusterID(fixedID("c-1"))
			c, err := cid.Dial(ctxTimeout(t, 5*time.Second), m.Addr().String(), ProtoRaft)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer func() { _ = c.Close() }()
			r := <-acceptAsync(m.Listener(ProtoRaft))
			if r.err != nil {
				t.Fatal(r.err)
			}
			s := r.conn
			defer func() { _ = s.Close() }()
			_ = s.SetDeadline(time.Now().Add(3 * time.Second))

			// The server blocks in Read, as raft's handler does, while it
			// learns its cluster id.
			type readResult struct {
				b   []byte
				err error
			}
			read := make(chan readResult, 1)
			go func() {
				b := make([]byte, 16)
				n, err := s.Read(b)
				read <- readResult{b[:n], err}
			}()
			time.Sleep(50 * time.Millisecond)
			serverID.Store(tc.learned)
			if _, err := c.Write([]byte("entries")); err != nil {
				t.Fatal(err)
			}
			res := <-read
			if tc.ok {
				if res.err != nil || string(res.b) != "entries" {
					t.Fatalf("server read %q, %v", res.b, res.err)
				}
				echoBack(t, s, c)
				return
			}
			if !errors.Is(res.err, ErrOtherCluster) || len(res.b) != 0 {
				t.Fatalf("server read %q, %v; want nothing and ErrOtherCluster", res.b, res.err)
			}
			if !strings.Contains(res.err.Error(), "belongs to cluster c-1, this node to cluster c-2") {
				t.Fatalf("error %q does not name both clusters", res.err)
			}
			if _, err := s.Write([]byte("x")); !errors.Is(err, ErrOtherCluster) {
				t.Fatalf("server Write after mismatch: %v", err)
			}
			waitClosedByPeer(t, c, 2*time.Second)
		})
		t.Run("client/"+tc.name, func(t *testing.T) {
			sid := newID(t, key)
			sid.SetClusterID(fixedID("c-1"))
			m, _ := startMux(t, sid, 2*time.Second)
			echo(t, m.Listener(ProtoRPC))
			var clientID atomic.Value
			clientID.Store("")
			cid := newID(t, key)
			cid.SetClusterID(func() string { return clientID.Load().(string) })
			c, err := cid.Dial(ctxTimeout(t, 5*time.Second), m.Addr().String(), ProtoRPC)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			t.Cleanup(func() { _ = c.Close() })
			echoOnce(t, c)
			clientID.Store(tc.learned)
			_, err = c.Write([]byte("hi"))
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, 2)
				if _, err := io.ReadFull(c, got); err != nil || string(got) != "hi" {
					t.Fatalf("echo %q, %v", got, err)
				}
				return
			}
			if !errors.Is(err, ErrOtherCluster) {
				t.Fatalf("client Write after learning another cluster: %v", err)
			}
		})
	}
}

// echoBack checks that s and c still carry bytes from s to c.
func echoBack(t *testing.T, s, c net.Conn) {
	t.Helper()
	if _, err := s.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 2)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ok" {
		t.Fatalf("client read %q, %v", got, err)
	}
}
