package rpc

import (
	"context"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/stratagw/strata/internal/safemsgpack"
)

// pathFSCheck asks a node whether it sees a marker file under an fs
// backend path (backend add in a cluster: the directory must be shared).
const pathFSCheck = "/v1/fs-check"

// FSCheck asks a node to read a marker file another node wrote under an fs
// backend's root, to prove both see the same directory.
type FSCheck struct {
	// Path is the fs backend's root as the operator gave it.
	Path string `msgpack:"path"`
	// Marker is the marker's path relative to Path, slash-separated.
	Marker string `msgpack:"marker"`
	// Content is what the marker holds (random, so an unrelated file
	// cannot pass for it).
	Content []byte `msgpack:"content"`
}

// FSChecker answers an FSCheck on the receiving node: nil when it reads
// Content at Marker under Path, else an error saying why not. The error's
// text is sent back to the asking node, which shows it to the operator.
type FSChecker func(ctx context.Context, req FSCheck) error

// FSCheckError is a node's answer that it cannot see the marker: the
// check ran there and failed (the path is not shared, does not exist, or
// the node's fs lockdown refuses it). It is a definite answer, unlike a
// transport error.
type FSCheckError struct {
	// Reason is the peer's explanation.
	Reason string
}

// Error implements error.
func (e *FSCheckError) Error() string { return "the peer cannot see the marker: " + e.Reason }

// fsCheckResponse carries the check's outcome. A failed check is a 200
// answer, not an RPC error: it is the result the caller asked for, and it
// keeps the reason apart from transport and server failures.
type fsCheckResponse struct {
	OK     bool   `msgpack:"ok"`
	Reason string `msgpack:"reason,omitempty"`
}

// HandleFSCheck makes the server answer fs checks with fn. Call it before
// Serve; without it the server refuses fs checks as bad requests.
func (s *Server) HandleFSCheck(fn FSChecker) { s.fsCheck = fn }

func (s *Server) answerFSCheck(ctx context.Context, body []byte) (any, error) {
	if s.fsCheck == nil {
		return nil, badRequest{errors.New("fs-check: this node does not answer fs checks")}
	}
	var req FSCheck
	if err := safemsgpack.Unmarshal(body, &req); err != nil {
		return nil, badRequest{fmt.Errorf("decode fs-check request: %w", err)}
	}
	if req.Path == "" || req.Marker == "" || len(req.Content) == 0 {
		return nil, badRequest{errors.New("fs-check: path, marker and content are required")}
	}
	if err := s.fsCheck(ctx, req); err != nil {
		return fsCheckResponse{Reason: err.Error()}, nil
	}
	return fsCheckResponse{OK: true}, nil
}

// FSCheck asks the node at addr whether it sees the marker described by
// req. It returns nil when the node read the expected content, an error
// wrapping *FSCheckError when the node answered that it cannot, and any
// other error (wrapping cluster.ErrNotSent when the node was not reached)
// when there was no answer.
func (c *Client) FSCheck(ctx context.Context, addr string, req FSCheck) error {
	body, err := msgpack.Marshal(req)
	if err != nil {
		return fmt.Errorf("cluster rpc: encode fs-check request: %w", err)
	}
	var resp fsCheckResponse
	// Replayable: the check only reads.
	if err := c.call(ctx, addr, pathFSCheck, body, contentTypeMsgpack, true, &resp); err != nil {
		return err
	}
	if !resp.OK {
		return fmt.Errorf("cluster rpc: fs-check on %s: %w", addr, &FSCheckError{Reason: resp.Reason})
	}
	return nil
}
