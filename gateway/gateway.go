// Package gateway serves the S3 API: routing (path-style and
// virtual-hosted-style), SigV4 authentication (gateway/sigv4), the handlers,
// XML encoding and S3 errors. It reads state through fsm.Reader, writes it
// through Cluster.Apply, and moves object bytes between the client and the
// backends itself; bytes never pass through raft. Nothing depends on
// gateway.
package gateway

import (
	"context"
	"log/slog"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/iam"
)

// Cluster is what the gateway needs from the raft node.
type Cluster interface {
	// Apply submits a command (forwarded to the leader when needed) and
	// returns once the local FSM has applied it. A deterministic command
	// failure is returned as a *fsm.Error (also in Result.Err); any other
	// error means the command may not have been applied and the client
	// gets 503 ServiceUnavailable.
	Apply(ctx context.Context, t fsm.CommandType, body any) (fsm.Result, error)
	// ReadBarrier returns once the local FSM has applied everything the
	// leader had committed when it was called (strong reads).
	ReadBarrier(ctx context.Context) error
}

// Backends opens backends by their record ID.
type Backends interface {
	Get(ctx context.Context, backendID string) (backend.Backend, error)
}

// Identity is an authenticated caller (owned by iam, which resolves it).
type Identity = iam.Identity

// Credentials resolves access keys for SigV4 verification.
type Credentials interface {
	// Lookup returns the identity and clear secret key of accessKey; ok is
	// false when the key is unknown.
	Lookup(ctx context.Context, accessKey string) (id Identity, secret string, ok bool, err error)
}

// Deps are the gateway's collaborators.
type Deps struct {
	State       fsm.Reader
	Cluster     Cluster
	Backends    Backends
	Credentials Credentials
	Logger      *slog.Logger
}
