package clusternet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// defaultHandshakeTimeout bounds each accepted connection's handshake so a
// silent or slow client holds nothing but its own goroutine for long.
const defaultHandshakeTimeout = 10 * time.Second

// Mux accepts connections on one listener, authenticates them with the
// cluster identity, and hands each to the Listener of its ALPN protocol.
type Mux struct {
	raw              net.Listener
	id               *Identity
	logger           *slog.Logger
	handshakeTimeout time.Duration

	ctx    context.Context // canceled by Close; aborts handshakes in flight
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loop and per-connection goroutines

	listeners map[string]*listener // fixed at construction, read-only after

	closeOnce sync.Once
	closeErr  error
}

// NewMux starts accepting on ln. It takes ownership of ln: Close closes it.
// A nil logger discards logs.
func NewMux(ln net.Listener, id *Identity, logger *slog.Logger) *Mux {
	return newMux(ln, id, logger, defaultHandshakeTimeout)
}

func newMux(ln net.Listener, id *Identity, logger *slog.Logger, handshakeTimeout time.Duration) *Mux {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mux{
		raw:              ln,
		id:               id,
		logger:           logger,
		handshakeTimeout: handshakeTimeout,
		ctx:              ctx,
		cancel:           cancel,
		listeners:        make(map[string]*listener),
	}
	for _, p := range []string{ProtoRaft, ProtoRPC} {
		m.listeners[p] = newListener(m, p)
	}
	m.wg.Add(1)
	go m.acceptLoop()
	return m
}

// Listener returns the listener for proto (ProtoRaft or ProtoRPC); the same
// one on every call. Its Addr is the mux's address. Closing it refuses that
// protocol's later connections but leaves the mux and the other protocol
// running. For any other proto, the listener's Accept always fails.
func (m *Mux) Listener(proto string) net.Listener {
	if l, ok := m.listeners[proto]; ok {
		return l
	}
	return &unsupported{addr: m.raw.Addr(), proto: proto}
}

// Addr is the address the mux accepts on.
func (m *Mux) Addr() net.Addr { return m.raw.Addr() }

// Close stops accepting, aborts handshakes in flight, closes connections
// not yet accepted, unblocks every Accept, and waits for the mux's
// goroutines. Connections already returned by Accept belong to the caller.
func (m *Mux) Close() error {
	m.closeOnce.Do(func() {
		m.cancel()
		if err := m.raw.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			m.closeErr = fmt.Errorf("clusternet: close listener: %w", err)
		}
		for _, l := range m.listeners {
			_ = l.Close()
		}
		m.wg.Wait()
	})
	return m.closeErr
}

func (m *Mux) acceptLoop() {
	defer m.wg.Done()
	var backoff time.Duration
	for {
		conn, err := m.raw.Accept()
		if err != nil {
			if m.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			var temp interface{ Temporary() bool }
			if !errors.As(err, &temp) || !temp.Temporary() {
				m.logger.Error("cluster port: accept failed, closing", "addr", m.raw.Addr().String(), "err", err)
				go func() { _ = m.Close() }()
				return
			}
			// Like net/http: ride out EMFILE and friends.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.logger.Warn("cluster port: accept failed, retrying", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-m.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		m.wg.Add(1)
		go m.serveConn(conn)
	}
}

// serveConn authenticates one connection and delivers it.
func (m *Mux) serveConn(raw net.Conn) {
	defer m.wg.Done()
	remote := raw.RemoteAddr().String()
	conn := tls.Server(raw, m.id.serverConfig(remote))
	ctx, cancel := context.WithTimeout(m.ctx, m.handshakeTimeout)
	defer cancel()
	_ = raw.SetDeadline(time.Now().Add(m.handshakeTimeout))
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		err = handshakeError(remote, err)
		if errors.Is(err, ErrWrongClusterKey) {
			m.logger.Warn("cluster port: refused peer", "remote", remote, "err", err)
		} else {
			// Port scanners and health probes are routine, not news.
			m.logger.Debug("cluster port: handshake failed", "remote", remote, "err", err)
		}
		return
	}
	_ = raw.SetDeadline(time.Time{})
	proto := conn.ConnectionState().NegotiatedProtocol
	l, ok := m.listeners[proto]
	if !ok {
		m.logger.Debug("cluster port: no protocol negotiated, closing", "remote", remote, "proto", proto)
		_ = conn.Close()
		return
	}
	l.deliver(conn)
}

// listener is one protocol's side of the mux.
type listener struct {
	mux   *Mux
	proto string
	conns chan net.Conn // unbuffered: a connection waits in its goroutine until accepted

	closeOnce sync.Once
	done      chan struct{}
}

func newListener(m *Mux, proto string) *listener {
	return &listener{mux: m, proto: proto, conns: make(chan net.Conn), done: make(chan struct{})}
}

// deliver hands conn to Accept, or closes it if nobody will accept it.
func (l *listener) deliver(conn net.Conn) {
	select {
	case l.conns <- conn:
	case <-l.done:
		_ = conn.Close()
	case <-l.mux.ctx.Done():
		_ = conn.Close()
	}
}

// Accept waits for the next authenticated connection of this protocol. It
// returns net.ErrClosed once the listener or the mux is closed.
func (l *listener) Accept() (net.Conn, error) {
	// Closed takes precedence over a connection that is ready at the same
	// moment, so Accept after Close never returns a connection.
	select {
	case <-l.done:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept return net.ErrClosed; the mux keeps running.
func (l *listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

// Addr is the mux's listening address.
func (l *listener) Addr() net.Addr { return l.mux.raw.Addr() }

// unsupported is the listener for a protocol the mux does not route.
type unsupported struct {
	addr  net.Addr
	proto string
}

func (u *unsupported) Accept() (net.Conn, error) {
	return nil, fmt.Errorf("clusternet: protocol %q is not routed by the mux: %w", u.proto, net.ErrClosed)
}
func (u *unsupported) Close() error   { return nil }
func (u *unsupported) Addr() net.Addr { return u.addr }
