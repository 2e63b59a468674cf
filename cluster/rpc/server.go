package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/internal/safemsgpack"
)

// Server timeouts. There is no write timeout: an apply legitimately takes
// up to the leader's apply timeout, and the client's own deadline (sent in
// the Strata-Timeout header, and the connection closing) bounds the work.
const (
	readHeaderTimeout = 5 * time.Second
	// readTimeout covers header and body: MaxCommandSize over a LAN takes
	// well under a second.
	readTimeout = 30 * time.Second
	// idleTimeout is longer than the client's idle timeout on purpose: the
	// client should drop an idle connection before the server does, so a
	// pooled connection is rarely closed under a request in flight (which
	// would turn an apply into an ambiguous failure).
	idleTimeout = 2 * clientIdleTimeout
)

// Service is what the server answers with. *cluster.Node implements the
// leader-side calls; Status comes from whoever knows the node's addresses.
// Every call gets the request's context, which ends when the client goes
// away or its deadline passes.
type Service interface {
	// ApplyLocal submits an encoded command on the leader. It fails with
	// cluster.ErrNotLeader, having submitted nothing, on any other node. A
	// deterministic command failure is the *fsm.Error in Result.Err (and
	// may be returned as the error too).
	ApplyLocal(ctx context.Context, cmd []byte) (fsm.Result, error)
	// ReadIndex confirms leadership and returns the commit index (leader
	// only).
	ReadIndex(ctx context.Context) (uint64, error)
	// RemoveServer removes a server from the raft configuration (leader
	// only).
	RemoveServer(ctx context.Context, id string) error
	// Status describes this node.
	Status(ctx context.Context) (cluster.NodeStatus, error)
}

// Server serves the cluster RPC on listeners handed to Serve.
type Server struct {
	svc  Service
	log  *slog.Logger
	http *http.Server
	// fsCheck answers fs checks (nil: refused); see HandleFSCheck.
	fsCheck FSChecker
}

// NewServer returns a server answering with svc.
func NewServer(svc Service, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{svc: svc, log: logger}
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.route),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    16 << 10,
		// Connections reach net/http as plain ones (see plainListener); an
		// empty map also keeps it from ever switching one to HTTP/2.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	return s
}

// Serve accepts connections on ln until Close. It returns nil once the
// server was closed, else the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(plainListener{ln})
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("cluster rpc: serve on %s: %w", ln.Addr(), err)
}

// plainListener hides that accepted connections are *tls.Conn. net/http
// treats a TLS connection whose negotiated ALPN protocol is neither empty
// nor http/1.x as a TLSNextProto hand-off and closes it when no handler is
// registered for that protocol, so clusternet's "strata-rpc/1" connections
// would be dropped unanswered. The handshake is clusternet's business; to
// net/http these are plain HTTP/1.1 connections.
type plainListener struct{ net.Listener }

// Accept returns the next connection behind a wrapper that is not a
// *tls.Conn.
func (l plainListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return plainConn{conn}, nil
}

// plainConn is a net.Conn that net/http cannot type-assert to *tls.Conn.
type plainConn struct{ net.Conn }

// Close closes the listeners and every connection at once; requests in
// flight see their context cancelled.
func (s *Server) Close() error {
	if err := s.http.Close(); err != nil {
		return fmt.Errorf("cluster rpc: close: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections and waits (until ctx ends) for the
// requests in flight to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.http.Shutdown(ctx); err != nil {
		return fmt.Errorf("cluster rpc: shutdown: %w", err)
	}
	return nil
}

// route dispatches by path. It is hand-written rather than a ServeMux so
// that wrong paths and methods get the same msgpack error body as
// everything else.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	var h func(context.Context, []byte) (any, error)
	switch r.URL.Path {
	case pathApply:
		h = s.apply
	case pathReadIndex:
		h = s.readIndex
	case pathRemoveServer:
		h = s.removeServer
	case pathStatus:
		h = s.status
	case pathFSCheck:
		h = s.answerFSCheck
	default:
		s.writeError(w, r, http.StatusNotFound, KindBadRequest, fmt.Sprintf("no endpoint %s", r.URL.Path))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, r, http.StatusMethodNotAllowed, KindBadRequest, fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path))
		return
	}
	ctx, cancel, err := requestContext(r)
	if err != nil {
		s.writeError(w, r, http.StatusBadRequest, KindBadRequest, err.Error())
		return
	}
	defer cancel()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxCommandSize))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.writeError(w, r, http.StatusRequestEntityTooLarge, KindBadRequest,
				fmt.Sprintf("request body exceeds %d bytes", tooLarge.Limit))
			return
		}
		s.writeError(w, r, http.StatusBadRequest, KindBadRequest, fmt.Sprintf("read request body: %v", err))
		return
	}
	resp, err := h(ctx, body)
	if err != nil {
		status, kind := classify(err)
		s.writeError(w, r, status, kind, err.Error())
		return
	}
	if resp == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.write(w, r, http.StatusOK, resp)
}

// requestContext bounds the request's context by the client's remaining
// deadline, if it sent one.
func requestContext(r *http.Request) (context.Context, context.CancelFunc, error) {
	v := r.Header.Get(headerTimeout)
	if v == "" {
		ctx, cancel := context.WithCancel(r.Context())
		return ctx, cancel, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return nil, nil, fmt.Errorf("invalid %s header %q: want a positive duration", headerTimeout, v)
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	return ctx, cancel, nil
}

// badRequest marks handler errors caused by the request itself.
type badRequest struct{ error }

func (e badRequest) Unwrap() error { return e.error }

func (s *Server) apply(ctx context.Context, body []byte) (any, error) {
	if len(body) == 0 {
		return nil, badRequest{errors.New("empty command")}
	}
	res, err := s.svc.ApplyLocal(ctx, body)
	if err != nil {
		// A deterministic failure of the command is a result, not an RPC
		// failure: the command was applied (as a no-op) at res.Index, and
		// the follower must wait for that index like for any other result.
		var fe *fsm.Error
		if !errors.As(err, &fe) {
			return nil, err
		}
		if res.Err == nil {
			res.Err = fe
		}
	}
	return toWire(res), nil
}

func (s *Server) readIndex(ctx context.Context, _ []byte) (any, error) {
	idx, err := s.svc.ReadIndex(ctx)
	if err != nil {
		return nil, err
	}
	return readIndexResponse{Index: idx}, nil
}

func (s *Server) removeServer(ctx context.Context, body []byte) (any, error) {
	var req removeServerRequest
	if err := safemsgpack.Unmarshal(body, &req); err != nil {
		return nil, badRequest{fmt.Errorf("decode remove-server request: %w", err)}
	}
	if req.ID == "" {
		return nil, badRequest{errors.New("remove-server: empty server id")}
	}
	if err := s.svc.RemoveServer(ctx, req.ID); err != nil {
		return nil, err
	}
	return nil, nil
}

func (s *Server) status(ctx context.Context, _ []byte) (any, error) {
	st, err := s.svc.Status(ctx)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// classify maps a service error to its HTTP status and wire kind. The
// order matters: a node's timeout error may also carry a context error.
func classify(err error) (int, string) {
	var br badRequest
	switch {
	case errors.As(err, &br):
		return http.StatusBadRequest, KindBadRequest
	case errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrNoLeader):
		return http.StatusMisdirectedRequest, KindNotLeader
	case errors.Is(err, cluster.ErrShutdown):
		return http.StatusServiceUnavailable, KindShutdown
	case errors.Is(err, cluster.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, KindTimeout
	}
	return http.StatusInternalServerError, KindInternal
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int, kind, msg string) {
	level := slog.LevelDebug
	if kind == KindInternal {
		level = slog.LevelWarn
	}
	s.log.Log(r.Context(), level, "cluster rpc: request failed",
		"path", r.URL.Path, "remote", r.RemoteAddr, "kind", kind, "err", msg)
	s.write(w, r, status, wireError{Kind: kind, Message: msg})
}

func (s *Server) write(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		// Only a programming error gets here (every answer type encodes).
		s.log.Error("cluster rpc: encode response", "path", r.URL.Path, "err", err)
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentTypeMsgpack)
	w.WriteHeader(status)
	if _, err := w.Write(b); err != nil {
		s.log.Debug("cluster rpc: write response", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
	}
}
