package clusternet

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestNewIdentity(t *testing.T) {
	key := newKey(t)
	a, b := newID(t, key), newID(t, key)
	if !bytes.Equal(a.pub, b.pub) {
		t.Fatal("same key derived different public keys")
	}
	if !bytes.Equal(a.cert.Certificate[0], b.cert.Certificate[0]) {
		t.Fatal("same key derived different certificates")
	}
	if c := newID(t, newKey(t)); bytes.Equal(a.pub, c.pub) {
		t.Fatal("different keys derived the same public key")
	}
	leaf := a.cert.Leaf
	for _, when := range []time.Time{time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if when.Before(leaf.NotBefore) || when.After(leaf.NotAfter) {
			t.Errorf("certificate not valid at %v (%v..%v)", when, leaf.NotBefore, leaf.NotAfter)
		}
	}
	for _, n := range []int{0, 16, 31} {
		if _, err := NewIdentity(make([]byte, n)); err == nil {
			t.Errorf("NewIdentity accepted a %d-byte key", n)
		}
	}
}

// TestRoundTrip dials each protocol and checks the bytes come back through
// the listener of that protocol only.
func TestRoundTrip(t *testing.T) {
	key := newKey(t)
	m, _ := startMux(t, newID(t, key), time.Second)
	client := newID(t, key) // another node with the same key
	for _, proto := range []string{ProtoRaft, ProtoRPC} {
		t.Run(proto, func(t *testing.T) {
			other := ProtoRPC
			if proto == ProtoRPC {
				other = ProtoRaft
			}
			c, err := client.Dial(ctxTimeout(t, 5*time.Second), m.Addr().String(), proto)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer func() { _ = c.Close() }()
			if got := c.(*Conn).ConnectionState(); got.NegotiatedProtocol != proto || got.Version != tls.VersionTLS13 {
				t.Fatalf("negotiated %q version %x, want %q TLS 1.3", got.NegotiatedProtocol, got.Version, proto)
			}
			wrong := acceptAsync(m.Listener(other))
			res := <-acceptAsync(m.Listener(proto))
			if res.err != nil {
				t.Fatalf("Accept: %v", res.err)
			}
			s := res.conn
			defer func() { _ = s.Close() }()
			if s.(*Conn).ConnectionState().NegotiatedProtocol != proto {
				t.Fatalf("server side negotiated %q", s.(*Conn).ConnectionState().NegotiatedProtocol)
			}
			msg := []byte("hello " + proto)
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("server read %q, %v", got, err)
			}
			if _, err := s.Write([]byte("pong")); err != nil {
				t.Fatal(err)
			}
			got = make([]byte, 4)
			if _, err := io.ReadFull(c, got); err != nil || string(got) != "pong" {
				t.Fatalf("client read %q, %v", got, err)
			}
			select {
			case r := <-wrong:
				t.Fatalf("listener %s got a connection for %s (err %v)", other, proto, r.err)
			case <-time.After(50 * time.Millisecond):
			}
			// Unblock the pending Accept on the other listener for the
			// next subtest by handing it a connection of its own.
			oc, err := client.Dial(ctxTimeout(t, 5*time.Second), m.Addr().String(), other)
			if err != nil {
				t.Fatal(err)
			}
			_ = oc.Close()
			if r := <-wrong; r.err == nil {
				_ = r.conn.Close()
			}
		})
	}
}

// TestWrongKey: a node with another cluster key is refused, and both sides
// say why.
func TestWrongKey(t *testing.T) {
	m, logs := startMux(t, newID(t, newKey(t)), time.Second)
	addr := m.Addr().String()
	echo(t, m.Listener(ProtoRPC))
	stranger := newID(t, newKey(t))

	_, err := stranger.Dial(ctxTimeout(t, 5*time.Second), addr, ProtoRPC)
	if err == nil {
		t.Fatal("Dial with another cluster key succeeded")
	}
	if !errors.Is(err, ErrWrongClusterKey) || !errors.Is(err, ErrDial) {
		t.Fatalf("error %v: want ErrWrongClusterKey and ErrDial", err)
	}
	if want := "the peer at " + addr + " uses a different cluster key"; !strings.Contains(err.Error(), want) {
		t.Fatalf("client error %q does not say %q", err, want)
	}
	waitLog(t, logs, "uses a different cluster key")
	if !strings.Contains(logs.String(), "the peer at 127.0.0.1:") {
		t.Fatalf("server log does not name the peer:\n%s", logs)
	}
}

// TestServerChecksClient: the server enforces the key itself, even against a
// client that skips checking the server (and one that shows no certificate).
func TestServerChecksClient(t *testing.T) {
	m, logs := startMux(t, newID(t, newKey(t)), time.Second)
	addr := m.Addr().String()
	accepted := acceptAsync(m.Listener(ProtoRPC))
	stranger := newID(t, newKey(t))
	cases := []struct {
		name  string
		certs []tls.Certificate
		log   string
	}{
		{"other key", []tls.Certificate{stranger.cert}, "uses a different cluster key"},
		{"no certificate", nil, "client didn't provide a certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c := tls.Client(raw, &tls.Config{
				MinVersion: tls.VersionTLS13, InsecureSkipVerify: true,
				Certificates: tc.certs, NextProtos: []string{ProtoRPC},
			})
			defer func() { _ = c.Close() }()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			// TLS 1.3: the client finishes first; the server's verdict
			// arrives on the first read.
			_ = c.Handshake()
			_, _ = c.Write([]byte("x"))
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatal("server answered a client without the cluster key")
			}
			waitLog(t, logs, tc.log)
		})
	}
	select {
	case r := <-accepted:
		t.Fatalf("an unauthenticated connection was delivered (err %v)", r.err)
	default:
	}
}

func waitLog(t *testing.T, logs *logBuf, want string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log does not contain %q:\n%s", want, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHostileClientsDoNotBlock: silent and garbage-sending TCP clients hold
// nothing but their own handshake, which times out.
func TestHostileClientsDoNotBlock(t *testing.T) {
	key := newKey(t)
	const hsTimeout = 300 * time.Millisecond
	m, _ := startMux(t, newID(t, key), hsTimeout)
	addr := m.Addr().String()
	echo(t, m.Listener(ProtoRaft))

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = silent.Close() }()
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = slow.Close() }()
	// A TLS record header promising more than is ever sent.
	if _, err := slow.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}); err != nil {
		t.Fatal(err)
	}
	garbage, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = garbage.Close() }()
	if _, err := garbage.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	c, err := newID(t, key).Dial(ctxTimeout(t, 5*time.Second), addr, ProtoRaft)
	if err != nil {
		t.Fatalf("Dial while hostile clients are connected: %v", err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= hsTimeout {
		t.Fatalf("a good client waited %v behind hostile ones", d)
	}
	waitClosedByPeer(t, garbage, 2*time.Second)
	waitClosedByPeer(t, silent, 2*time.Second)
	waitClosedByPeer(t, slow, 2*time.Second)
}

// TestNoProtocol: a client with the key but no or an unknown ALPN protocol
// is not delivered to any listener.
func TestNoProtocol(t *testing.T) {
	key := newKey(t)
	m, logs := startMux(t, newID(t, key), time.Second)
	addr := m.Addr().String()
	id := newID(t, key)

	if _, err := id.Dial(ctxTimeout(t, 5*time.Second), addr, "strata-other/1"); err == nil || !errors.Is(err, ErrDial) {
		t.Fatalf("Dial with an unknown protocol: %v, want an ErrDial error", err)
	}

	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := id.clientConfig(addr, "")
	cfg.NextProtos = nil
	c := tls.Client(raw, cfg)
	defer func() { _ = c.Close() }()
	if err := c.HandshakeContext(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatalf("handshake without ALPN: %v", err)
	}
	waitClosedByPeer(t, c, 2*time.Second)
	waitLog(t, logs, "no protocol negotiated")

	// The next raft connection is the first one the raft listener sees.
	good, err := id.Dial(ctxTimeout(t, 5*time.Second), addr, ProtoRaft)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = good.Close() }()
	if _, err := good.Write([]byte("r")); err != nil {
		t.Fatal(err)
	}
	r := <-acceptAsync(m.Listener(ProtoRaft))
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer func() { _ = r.conn.Close() }()
	b := make([]byte, 1)
	_ = r.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(r.conn, b); err != nil || b[0] != 'r' {
		t.Fatalf("first raft connection read %q, %v", b, err)
	}

	if _, err := m.Listener("strata-other/1").Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on an unrouted protocol: %v, want net.ErrClosed", err)
	}
}

// TestClose: Close unblocks Accept on both listeners, closes connections
// nobody accepted, refuses new ones, and leaves no goroutine behind.
func TestClose(t *testing.T) {
	base := runtime.NumGoroutine()
	key := newKey(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := newMux(ln, newID(t, key), nil, withTimeout(time.Second))
	addr := m.Addr().String()
	id := newID(t, key)

	// A connection delivered to a listener nobody accepts on.
	pending, err := id.Dial(ctxTimeout(t, 5*time.Second), addr, ProtoRPC)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pending.Close() }()
	// A connection stuck in its handshake.
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = silent.Close() }()

	raftAccept := acceptAsync(m.Listener(ProtoRaft))
	time.Sleep(50 * time.Millisecond) // let the handshakes reach their wait
	start := time.Now()
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("Close took %v (waited for a handshake deadline?)", d)
	}
	if r := <-raftAccept; !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("blocked Accept returned %v, want net.ErrClosed", r.err)
	}
	for _, p := range []string{ProtoRaft, ProtoRPC} {
		if _, err := m.Listener(p).Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept(%s) after Close: %v", p, err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	waitClosedByPeer(t, pending, 2*time.Second)
	waitClosedByPeer(t, silent, 2*time.Second)
	if _, err := id.Dial(ctxTimeout(t, 2*time.Second), addr, ProtoRaft); !errors.Is(err, ErrDial) {
		t.Fatalf("Dial after Close: %v, want ErrDial", err)
	}
	_ = pending.Close()
	_ = silent.Close()
	checkNoLeak(t, base)
}

// TestListenerClose: closing one protocol's listener leaves the other
// working and turns away the closed protocol's connections.
func TestListenerClose(t *testing.T) {
	key := newKey(t)
	m, _ := startMux(t, newID(t, key), time.Second)
	addr := m.Addr().String()
	id := newID(t, key)
	echo(t, m.Listener(ProtoRPC))

	blocked := acceptAsync(m.Listener(ProtoRaft))
	if err := m.Listener(ProtoRaft).Close(); err != nil {
		t.Fatal(err)
	}
	if r := <-blocked; !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("Accept after listener Close: %v", r.err)
	}
	if m.Listener(ProtoRaft).Addr().String() != addr {
		t.Fatalf("listener Addr %v, want %v", m.Listener(ProtoRaft).Addr(), addr)
	}
	rc, err := id.Dial(ctxTimeout(t, 5*time.Second), addr, ProtoRaft)
	if err != nil {
		t.Fatalf("Dial raft: %v", err)
	}
	defer func() { _ = rc.Close() }()
	waitClosedByPeer(t, rc, 2*time.Second)

	c, err := id.Dial(ctxTimeout(t, 5*time.Second), addr, ProtoRPC)
	if err != nil {
		t.Fatalf("Dial rpc after closing raft listener: %v", err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 10)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "still here" {
		t.Fatalf("echo %q, %v", got, err)
	}
}

// TestDialErrors: failures before any byte could be delivered wrap ErrDial,
// and the context deadline bounds the handshake.
func TestDialErrors(t *testing.T) {
	id := newID(t, newKey(t))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	_ = ln.Close()

	// A listener that never accepts: the kernel completes the TCP
	// handshake, the TLS one never starts.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mute.Close() })

	cases := []struct {
		name    string
		dial    func() error
		want    error
		maxTime time.Duration
	}{
		{"refused", func() error {
			_, err := id.Dial(ctxTimeout(t, 2*time.Second), closedAddr, ProtoRPC)
			return err
		}, nil, time.Second},
		{"ctx deadline", func() error {
			_, err := id.Dial(ctxTimeout(t, 200*time.Millisecond), mute.Addr().String(), ProtoRPC)
			return err
		}, context.DeadlineExceeded, time.Second},
		{"raft dialer timeout", func() error {
			_, err := id.RaftDialer()(mute.Addr().String(), 200*time.Millisecond)
			return err
		}, context.DeadlineExceeded, time.Second},
		{"bad address", func() error {
			_, err := id.Dial(ctxTimeout(t, 2*time.Second), "no-port", ProtoRPC)
			return err
		}, nil, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := tc.dial()
			if !errors.Is(err, ErrDial) {
				t.Fatalf("error %v does not wrap ErrDial", err)
			}
			if errors.Is(err, ErrWrongClusterKey) {
				t.Fatalf("error %v claims a wrong key", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v does not wrap %v", err, tc.want)
			}
			if d := time.Since(start); d > tc.maxTime {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// plainListener hides *tls.Conn from net/http's server, which would
// otherwise hand a connection with an unknown ALPN protocol to TLSNextProto
// (or drop it) instead of serving HTTP/1.1 on it.
type plainListener struct{ net.Listener }

func (l plainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return struct{ net.Conn }{c}, nil
}

// TestHTTPOverRPC: net/http's server and client speak HTTP/1.1 over the RPC
// listener and Dial, as the cluster RPC does.
func TestHTTPOverRPC(t *testing.T) {
	key := newKey(t)
	m, _ := startMux(t, newID(t, key), time.Second)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.Proto+" "+r.URL.Path)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(plainListener{m.Listener(ProtoRPC)}) }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	id := newID(t, key)
	tr := &http.Transport{
		DialTLSContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return id.Dial(ctx, addr, ProtoRPC)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for range 2 { // the second request reuses the connection
		resp, err := client.Get("https://" + m.Addr().String() + "/v1/status")
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || string(body) != "HTTP/1.1 /v1/status" {
			t.Fatalf("body %q, %v", body, err)
		}
	}
}

// BenchmarkEcho1MiB measures throughput of a 1 MiB round trip over one
// authenticated connection.
func BenchmarkEcho1MiB(b *testing.B) {
	key := newKey(b)
	m, _ := startMux(b, newID(b, key), time.Second)
	echo(b, m.Listener(ProtoRPC))
	c, err := newID(b, key).Dial(context.Background(), m.Addr().String(), ProtoRPC)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	payload := bytes.Repeat([]byte("s"), 1<<20)
	back := make([]byte, len(payload))
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for b.Loop() {
		errc := make(chan error, 1)
		go func() {
			_, err := c.Write(payload)
			errc <- err
		}()
		if _, err := io.ReadFull(c, back); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
}
