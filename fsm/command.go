package fsm

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// CommandType is the first byte of every raft log entry. Values are only ever
// appended; a retired type keeps its number forever.
type CommandType uint8

// Command types. Each has exactly one body type (see types.go) and one apply
// function registered in the dispatch table.
const (
	CmdInitCluster      CommandType = 1
	CmdPutBackend       CommandType = 2
	CmdRemoveBackend    CommandType = 3
	CmdRenameRegion     CommandType = 4
	CmdSetDefaultRegion CommandType = 5
	CmdCreateBucket     CommandType = 6
	CmdDeleteBucket     CommandType = 7
	CmdPutObject        CommandType = 8
	CmdDeleteObject     CommandType = 9
	CmdCreateUpload     CommandType = 10
	CmdPutPart          CommandType = 11
	CmdCompleteUpload   CommandType = 12
	CmdAbortUpload      CommandType = 13
)

// String names the command type for logs and metrics.
func (t CommandType) String() string {
	switch t {
	case CmdInitCluster:
		return "InitCluster"
	case CmdPutBackend:
		return "PutBackend"
	case CmdRemoveBackend:
		return "RemoveBackend"
	case CmdRenameRegion:
		return "RenameRegion"
	case CmdSetDefaultRegion:
		return "SetDefaultRegion"
	case CmdCreateBucket:
		return "CreateBucket"
	case CmdDeleteBucket:
		return "DeleteBucket"
	case CmdPutObject:
		return "PutObject"
	case CmdDeleteObject:
		return "DeleteObject"
	case CmdCreateUpload:
		return "CreateUpload"
	case CmdPutPart:
		return "PutPart"
	case CmdCompleteUpload:
		return "CompleteUpload"
	case CmdAbortUpload:
		return "AbortUpload"
	}
	return fmt.Sprintf("CommandType(%d)", uint8(t))
}

// Encode returns the log entry for a command: one type byte followed by the
// msgpack encoding of body.
func Encode(t CommandType, body any) ([]byte, error) {
	b, err := msgpack.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	out := make([]byte, 0, len(b)+1)
	out = append(out, byte(t))
	return append(out, b...), nil
}

// Result is what applying one command returns (raft's ApplyFuture.Response()
// and BatchingFSM's per-entry response). Err is a deterministic *Error (the
// same on every node), never an I/O error: an I/O error in the FSM's own
// bbolt file is fatal for the node.
type Result struct {
	Err *Error
	// Previous is the object record replaced or removed by PutObject,
	// DeleteObject or CompleteUpload, if any.
	Previous *Object
	// Index is the raft index the command was applied at.
	Index uint64
}

// Error codes returned by Apply. They are part of the replicated state's
// behaviour: never change the meaning of a code.
const (
	CodeAlreadyInitialized = "AlreadyInitialized"
	CodeBackendExists      = "BackendExists"
	CodeNoSuchBackend      = "NoSuchBackend"
	CodeBackendInUse       = "BackendInUse"
	CodeRegionExists       = "RegionExists"
	CodeNoSuchRegion       = "NoSuchRegion"
	CodeBucketExists       = "BucketExists"
	CodeNoSuchBucket       = "NoSuchBucket"
	CodeBucketNotEmpty     = "BucketNotEmpty"
	CodeNoSuchKey          = "NoSuchKey"
	CodeNoSuchUpload       = "NoSuchUpload"
	CodeInvalid            = "Invalid"
	CodeUnknownCommand     = "UnknownCommand"
	// CodePreconditionFailed: a conditional command (PutObject with
	// IfReplicaETag) found the state other than it required.
	CodePreconditionFailed = "PreconditionFailed"
)

// Error is a deterministic command failure.
type Error struct {
	Code    string `msgpack:"code"`
	Message string `msgpack:"message"`
	// Owner is set with CodeBucketExists: the existing bucket's owner.
	Owner string `msgpack:"owner,omitempty"`
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is lets errors.Is match on the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ErrCode returns a sentinel for errors.Is comparisons: errors.Is(err, fsm.ErrCode(fsm.CodeNoSuchBucket)).
func ErrCode(code string) *Error { return &Error{Code: code} }
