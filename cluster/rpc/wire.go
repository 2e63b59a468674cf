// Package rpc is strata's cluster RPC: what a node asks of another node
// over port 9100 besides raft itself — a follower forwarding a command or a
// read-index request to the leader, an operator's remove-server, and each
// node's status for `strata members`.
//
// It is HTTP/1.1 (net/http) with msgpack bodies, carried over whatever
// connections the caller supplies: in production the server listens on the
// clusternet mux's rpc listener and the client dials through
// clusternet.Identity, so mutual TLS is already done on both ends and this
// package never sees certificates. HTTP/1.1 rather than a bespoke framing
// because net/http gives connection pooling, body limits, timeouts and
// per-request contexts for free; one request per connection at a time is
// fine because the pool keeps enough connections per peer.
//
// Every endpoint is POST. Errors travel as a msgpack {kind, message}; the
// client turns them into a *RemoteError that unwraps to the cluster package's
// sentinels (ErrNotLeader, ErrShutdown, ErrTimeout), so callers use
// errors.Is. A transport failure wraps cluster.ErrNotSent only when the
// request certainly never left this node (see Client).
package rpc

import (
	"errors"

	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/fsm"
)

// Endpoint paths.
const (
	pathApply        = "/v1/apply"
	pathReadIndex    = "/v1/read-index"
	pathRemoveServer = "/v1/remove-server"
	pathStatus       = "/v1/status"
)

// MaxCommandSize bounds a forwarded command (and any request body). A
// command is metadata only — object bytes never go through raft — so a few
// MiB is already generous; the bound keeps a broken or hostile peer from
// making the leader buffer unbounded bodies.
const MaxCommandSize = 16 << 20

// maxResponseSize bounds what the client reads back: a Result with the
// previous object record, or a status, is far smaller.
const maxResponseSize = 16 << 20

// Content types, informational: both ends know what each endpoint carries.
const (
	contentTypeMsgpack = "application/msgpack"
	contentTypeCommand = "application/octet-stream"
)

// headerTimeout carries the client's remaining deadline (a Go duration
// string), so the server gives up on work the client no longer waits for
// even while the connection stays open.
const headerTimeout = "Strata-Timeout"

// Error kinds on the wire.
const (
	KindNotLeader  = "not_leader"
	KindShutdown   = "shutdown"
	KindTimeout    = "timeout"
	KindInternal   = "internal"
	KindBadRequest = "bad_request"
)

// ErrBadRequest: the peer refused the request as malformed (wrong method
// or path, body too large, undecodable body). Retrying it cannot help.
var ErrBadRequest = errors.New("cluster rpc: bad request")

// ErrCommandTooLarge: the client refused to send a command larger than
// MaxCommandSize (nothing was sent; the peer would refuse it anyway).
var ErrCommandTooLarge = errors.New("cluster rpc: command too large")

// wireError is the body of every non-2xx answer.
type wireError struct {
	Kind    string `msgpack:"kind"`
	Message string `msgpack:"message"`
}

// applyResponse is fsm.Result on the wire, with its own tags so the wire
// format does not depend on Go field names in package fsm.
type applyResponse struct {
	Err      *fsm.Error  `msgpack:"err,omitempty"`
	Previous *fsm.Object `msgpack:"previous,omitempty"`
	Index    uint64      `msgpack:"index"`
}

func toWire(r fsm.Result) applyResponse {
	return applyResponse{Err: r.Err, Previous: r.Previous, Index: r.Index}
}

// result rebuilds the fsm.Result. msgpack does not carry a time's location
// and decodes to local time; the FSM hands out UTC times (so every node
// shows the same values), and so does this.
func (a applyResponse) result() fsm.Result {
	if a.Previous != nil {
		a.Previous.ModTime = a.Previous.ModTime.UTC()
	}
	return fsm.Result{Err: a.Err, Previous: a.Previous, Index: a.Index}
}

type readIndexResponse struct {
	Index uint64 `msgpack:"index"`
}

type removeServerRequest struct {
	ID string `msgpack:"id"`
}

// RemoteError is an error the peer answered with. It unwraps to
// cluster.ErrNotLeader, cluster.ErrShutdown, cluster.ErrTimeout or
// ErrBadRequest according to its kind (an internal error unwraps to
// nothing: it is ambiguous, the command may or may not have been applied).
type RemoteError struct {
	// Kind is one of the Kind constants (or a kind this version does not
	// know, treated like internal).
	Kind string
	// Message is the peer's error text.
	Message string
}

// Error implements error.
func (e *RemoteError) Error() string {
	return e.Kind + ": " + e.Message
}

// Unwrap maps the kind to the sentinel callers test with errors.Is.
func (e *RemoteError) Unwrap() error {
	switch e.Kind {
	case KindNotLeader:
		return cluster.ErrNotLeader
	case KindShutdown:
		return cluster.ErrShutdown
	case KindTimeout:
		return cluster.ErrTimeout
	case KindBadRequest:
		return ErrBadRequest
	}
	return nil
}
