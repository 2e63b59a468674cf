package server

import (
	"context"
	"crypto/subtle"

	"github.com/stratagw/strata/iam"
)

// adminCredentials resolves access keys for the admin API. Normally that is
// the cluster's credential store. A node that has not joined a cluster yet
// has an empty store, so nobody could sign the `strata join` that brings it
// in; until the node's state holds a cluster, it accepts the admin key pair
// it was started with (STRATA_ADMIN_ACCESS_KEY / STRATA_ADMIN_SECRET_KEY).
// As soon as the node has raft state (it was added, even before it applied
// the cluster's credentials), only the cluster's credentials count.
type adminCredentials struct{ s *Server }

// Lookup implements admin.Credentials.
func (a adminCredentials) Lookup(ctx context.Context, accessKey string) (iam.Identity, string, bool, error) {
	if ak, sk, ok := a.preJoin(); ok && subtle.ConstantTimeCompare([]byte(ak), []byte(accessKey)) == 1 {
		return iam.Identity{AccessKey: ak, Admin: true, User: "admin"}, sk, true, nil
	}
	return a.s.creds.Lookup(ctx, accessKey)
}

// Secret is Lookup's secret alone (the SigV4 verifier's lookup).
func (a adminCredentials) Secret(ctx context.Context, accessKey string) (string, bool, error) {
	_, secret, ok, err := a.Lookup(ctx, accessKey)
	return secret, ok, err
}

// preJoin returns the configured admin key pair while this node's state
// holds no cluster yet.
func (a adminCredentials) preJoin() (accessKey, secretKey string, ok bool) {
	if a.s.cfg.AdminAccessKey == "" {
		return "", "", false
	}
	// The state file first: once the cluster is initialised (every request
	// after the join) that read alone answers, without asking raft.
	if _, initialised, err := a.s.fsm.Config(); err != nil || initialised {
		return "", "", false
	}
	if has, err := a.s.node.HasState(); err != nil || has {
		return "", "", false
	}
	return a.s.cfg.AdminAccessKey, a.s.cfg.AdminSecretKey, true
}
