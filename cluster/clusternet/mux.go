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

// Defaults for NewMux. Everything before the handshake completes is
// unauthenticated work anyone who reaches the port can cause, so it is
// bounded in time and in number. A cluster node opens a handful of
// connections to each peer, far below the limit.
const (
	defaultHandshakeTimeout = 5 * time.Second
	defaultMaxHandshakes    = 64
	// defaultLogEvery spaces repeated warnings about the same remote host.
	defaultLogEvery = time.Minute
	// logLimiterKeys bounds the hosts the log limiter remembers.
	logLimiterKeys = 1024
)

// muxOptions are the mux's limits; tests shrink them.
type muxOptions struct {
	handshakeTimeout time.Duration // TLS handshake plus cluster id exchange
	maxHandshakes    int           // concurrent; more are closed at once
	logEvery         time.Duration // per remote host and kind of refusal
}

func defaultMuxOptions() muxOptions {
	return muxOptions{
		handshakeTimeout: defaultHandshakeTimeout,
		maxHandshakes:    defaultMaxHandshakes,
		logEvery:         defaultLogEvery,
	}
}

// Mux accepts connections on one listener, authenticates them with the
// cluster identity, checks the peer's cluster id, and hands each to the
// Listener of its ALPN protocol.
type Mux struct {
	raw    net.Listener
	id     *Identity
	logger *slog.Logger
	opts   muxOptions
	// slots holds one token per handshake in progress.
	slots chan struct{}
	// logs rate-limits warnings that a misconfigured peer would otherwise
	// repeat several times a second.
	logs *logLimiter

	ctx    context.Context // canceled by Close; aborts handshakes in flight
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loop and per-connection goroutines

	listeners map[string]*listener // fixed at construction, read-only after

	closeOnce sync.Once
	closeErr  error
}

// NewMux starts accepting on ln. It takes ownership of ln: Close closes it.
// A nil logger discards logs. At most 64 connections are in their handshake
// at once (later ones are closed at once), and each has 5 s to complete it.
// The cluster id the mux announces and checks is id's (SetClusterID).
func NewMux(ln net.Listener, id *Identity, logger *slog.Logger) *Mux {
	return newMux(ln, id, logger, defaultMuxOptions())
}

func newMux(ln net.Listener, id *Identity, logger *slog.Logger, opts muxOptions) *Mux {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mux{
		raw:       ln,
		id:        id,
		logger:    logger,
		opts:      opts,
		slots:     make(chan struct{}, opts.maxHandshakes),
		logs:      newLogLimiter(opts.logEvery, logLimiterKeys),
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[string]*listener),
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
		select {
		case m.slots <- struct{}{}:
		default:
			_ = conn.Close()
			m.busy(conn.RemoteAddr().String())
			continue
		}
		m.wg.Add(1)
		go m.serveConn(conn)
	}
}

// busy logs that a connection was turned away for lack of a handshake
// slot. Once per interval for all hosts: a flood is one event.
func (m *Mux) busy(remote string) {
	if ok, n := m.logs.allow("busy"); ok {
		m.logger.Debug("cluster port: too many handshakes in progress, closed connection",
			"remote", remote, "limit", m.opts.maxHandshakes, "suppressed", n)
	}
}

// warnPeer logs a refused peer at most once per interval per remote host
// and kind of refusal.
func (m *Mux) warnPeer(kind, remote string, err error) {
	host, _, splitErr := net.SplitHostPort(remote)
	if splitErr != nil {
		host = remote
	}
	if ok, n := m.logs.allow(kind + " " + host); ok {
		m.logger.Warn("cluster port: refused peer", "remote", remote, "err", err, "suppressed", n)
	}
}

// serveConn authenticates one connection, checks its cluster id, and
// delivers it. It holds a handshake slot until the connection is
// authenticated or dropped.
func (m *Mux) serveConn(raw net.Conn) {
	defer m.wg.Done()
	conn, proto, ok := m.authenticate(raw)
	<-m.slots
	if !ok {
		_ = raw.Close()
		return
	}
	m.listeners[proto].deliver(conn)
}

// authenticate runs the TLS handshake and the cluster id exchange on raw
// within the handshake timeout, and logs why it failed if it did.
func (m *Mux) authenticate(raw net.Conn) (*Conn, string, bool) {
	remote := raw.RemoteAddr().String()
	deadline := time.Now().Add(m.opts.handshakeTimeout)
	conn := tls.Server(raw, m.id.serverConfig(remote))
	ctx, cancel := context.WithDeadline(m.ctx, deadline)
	defer cancel()
	_ = raw.SetDeadline(deadline)
	if err := conn.HandshakeContext(ctx); err != nil {
		err = handshakeError(remote, err)
		if errors.Is(err, ErrWrongClusterKey) {
			m.warnPeer("key", remote, err)
		} else {
			// Port scanners and health probes are routine, not news.
			m.logger.Debug("cluster port: handshake failed", "remote", remote, "err", err)
		}
		return nil, "", false
	}
	proto := conn.ConnectionState().NegotiatedProtocol
	if _, ok := m.listeners[proto]; !ok {
		m.logger.Debug("cluster port: no protocol negotiated, closing", "remote", remote, "proto", proto)
		return nil, "", false
	}
	cc, err := m.id.agreeOnCluster(m.ctx, conn, deadline, remote)
	if err != nil {
		if errors.Is(err, ErrOtherCluster) {
			m.warnPeer("cluster", remote, err)
		} else {
			m.logger.Debug("cluster port: cluster id exchange failed", "remote", remote, "err", err)
		}
		return nil, "", false
	}
	return cc, proto, true
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

// Accept waits for the next authenticated connection of this protocol, a
// *Conn. It returns net.ErrClosed once the listener or the mux is closed.
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
