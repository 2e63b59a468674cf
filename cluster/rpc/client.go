package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/internal/safemsgpack"
)

// Client pool settings. A follower forwards every write of its S3 clients
// to the leader, many small requests at once; HTTP/1.1 carries one request
// per connection at a time, so the pool keeps enough idle connections per
// peer that a burst does not dial (and handshake) anew.
const (
	maxIdleConnsPerHost = 128
	maxIdleConns        = 1024
	// clientIdleTimeout is shorter than the server's idle timeout (see
	// idleTimeout).
	clientIdleTimeout = 60 * time.Second
)

// Dialer opens a connection to a peer's cluster port, with any handshake
// (clusternet's mutual TLS) done before it returns. Its errors are kept in
// the client's errors, so errors.Is still finds, say, a wrong cluster key.
type Dialer func(ctx context.Context, addr string) (net.Conn, error)

// Client calls the cluster RPC of other nodes. It is safe for concurrent
// use and keeps a pool of connections per peer; one Client per node.
//
// Delivery: an error wraps cluster.ErrNotSent only when this node never
// obtained a connection for the request (the dial or the handshake failed,
// or ctx ended first) — then the peer cannot have seen it and even a write
// may be retried. Once a connection was obtained, any failure (a write
// error, a dropped connection, the deadline while waiting for the answer)
// is ambiguous: the peer may have acted on the request, so the error does
// not wrap ErrNotSent. The decision cannot be made later than "got a
// connection": httptrace's WroteRequest fires when the request is in the
// connection's write buffer, before it is flushed, so it proves nothing
// either way about what the peer received.
//
// No automatic retry: every call is a POST without an Idempotency-Key
// header, which net/http never replays once anything was written (it only
// re-sends on a fresh connection when a reused one failed before a single
// byte went out, which is safe). Forwarded writes must stay that way: a
// replayed apply would be applied twice. Read-index and status are safe to
// replay and carry Idempotency-Key, so a stale pooled connection does not
// fail them.
type Client struct {
	transport *http.Transport
	http      *http.Client
}

// NewClient returns a client that reaches peers through dial.
func NewClient(dial Dialer) *Client {
	tr := &http.Transport{
		// The https scheme only makes net/http use DialTLSContext; the
		// connection it returns is used as is (clusternet has done TLS).
		DialTLSContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return dial(ctx, addr)
		},
		Proxy:                  nil,
		MaxIdleConns:           maxIdleConns,
		MaxIdleConnsPerHost:    maxIdleConnsPerHost,
		IdleConnTimeout:        clientIdleTimeout,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true,
		ForceAttemptHTTP2:      false,
		TLSNextProto:           map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	return &Client{
		transport: tr,
		http: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// Close drops the pooled idle connections. The client stays usable.
func (c *Client) Close() error {
	c.transport.CloseIdleConnections()
	return nil
}

// Apply forwards an encoded command (fsm.Encode) to the leader at
// leaderAddr and returns its result. It implements cluster.LeaderClient. A
// deterministic failure of the command is not an error here: it is in
// Result.Err, with the Index it was applied at, for the caller to wait for
// before it reports the failure.
func (c *Client) Apply(ctx context.Context, leaderAddr string, cmd []byte) (fsm.Result, error) {
	if len(cmd) > MaxCommandSize {
		return fsm.Result{}, fmt.Errorf("cluster rpc: apply to %s: %w (%d bytes, at most %d)",
			leaderAddr, ErrCommandTooLarge, len(cmd), MaxCommandSize)
	}
	var resp applyResponse
	if err := c.call(ctx, leaderAddr, pathApply, cmd, contentTypeCommand, false, &resp); err != nil {
		return fsm.Result{}, err
	}
	return resp.result(), nil
}

// ReadIndex asks the leader at leaderAddr for its confirmed commit index.
func (c *Client) ReadIndex(ctx context.Context, leaderAddr string) (uint64, error) {
	var resp readIndexResponse
	if err := c.call(ctx, leaderAddr, pathReadIndex, nil, contentTypeMsgpack, true, &resp); err != nil {
		return 0, err
	}
	return resp.Index, nil
}

// RemoveServer asks the node at addr (the leader) to remove server id from
// the raft configuration.
func (c *Client) RemoveServer(ctx context.Context, addr, id string) error {
	body, err := msgpack.Marshal(removeServerRequest{ID: id})
	if err != nil {
		return fmt.Errorf("cluster rpc: encode remove-server request: %w", err)
	}
	return c.call(ctx, addr, pathRemoveServer, body, contentTypeMsgpack, false, nil)
}

// Status asks the node at addr to describe itself.
func (c *Client) Status(ctx context.Context, addr string) (cluster.NodeStatus, error) {
	var st cluster.NodeStatus
	if err := c.call(ctx, addr, pathStatus, nil, contentTypeMsgpack, true, &st); err != nil {
		return cluster.NodeStatus{}, err
	}
	return st, nil
}

// call POSTs body to path on addr and decodes a 2xx answer into out (if
// not nil). replayable marks requests net/http may re-send on a fresh
// connection (see Client).
func (c *Client) call(ctx context.Context, addr, path string, body []byte, contentType string, replayable bool, out any) error {
	op := fmt.Sprintf("cluster rpc: %s to %s", path, addr)
	u := url.URL{Scheme: "https", Host: addr, Path: path}
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w: %w", op, cluster.ErrNotSent, err)
	}
	req.Header.Set("Content-Type", contentType)
	if replayable {
		req.Header.Set("Idempotency-Key", "read-only")
	}
	if dl, ok := ctx.Deadline(); ok {
		req.Header.Set(headerTimeout, max(time.Until(dl), time.Millisecond).String())
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if !gotConn.Load() {
			return fmt.Errorf("%s: %w: %w", op, cluster.ErrNotSent, err)
		}
		return ambiguous(ctx, op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize+1))
	if err != nil {
		return ambiguous(ctx, op, fmt.Errorf("read response: %w", err))
	}
	if len(data) > maxResponseSize {
		return fmt.Errorf("%s: response exceeds %d bytes", op, maxResponseSize)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: %w", op, remoteError(resp.StatusCode, data))
	}
	if out == nil {
		return nil
	}
	if err := safemsgpack.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode response: %w", op, err)
	}
	return nil
}

// ambiguous wraps a failure after the request may have reached the peer.
// When ctx's deadline caused it, it also wraps cluster.ErrTimeout, whose
// meaning is the same: it may still be applied.
func ambiguous(ctx context.Context, op string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w (the peer may have acted on the request): %w", op, cluster.ErrTimeout, err)
	}
	return fmt.Errorf("%s: the peer may have acted on the request: %w", op, err)
}

// remoteError decodes an error answer. A body that is not a wire error
// (something other than a strata node answered) becomes an internal error
// with the status and the start of the body.
func remoteError(status int, data []byte) *RemoteError {
	var we wireError
	if err := safemsgpack.Unmarshal(data, &we); err == nil && we.Kind != "" {
		return &RemoteError{Kind: we.Kind, Message: we.Message}
	}
	const maxShown = 200
	if len(data) > maxShown {
		data = data[:maxShown]
	}
	return &RemoteError{Kind: KindInternal, Message: fmt.Sprintf("HTTP %d: %q", status, data)}
}
