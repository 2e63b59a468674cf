package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/cluster/gossip"
)

// Membership is what the admin API needs from the node's cluster
// membership (gossip + raft configuration). The server implements it.
type Membership interface {
	// Members lists every node known to raft or gossip.
	Members(ctx context.Context) ([]api.Member, error)
	// Join joins the cluster of the members at addrs (gossip HOST:PORT)
	// and returns once this node is in the raft configuration.
	Join(ctx context.Context, addrs []string) error
	// Leave leaves the cluster gracefully (hands off leadership, leaves
	// the raft configuration and gossip). The server exits afterwards;
	// Leave must not make it exit before the admin answer is written.
	Leave(ctx context.Context) error
	// Remove forces a node out of the raft configuration. It fails with
	// an error wrapping ErrUnknownNode or ErrMemberAlive when the node is
	// not a member or is alive in gossip.
	Remove(ctx context.Context, nodeID string) error
}

// Membership failures the admin API maps to specific answers; a
// Membership implementation wraps them.
var (
	// ErrUnknownNode: no node with that id is in the raft configuration
	// or gossip (404).
	ErrUnknownNode = errors.New("unknown node")
	// ErrMemberAlive: the node to remove is alive in gossip; removing it
	// would only make it rejoin (409).
	ErrMemberAlive = errors.New("node is alive")
	// ErrRefused: the change is not allowed in the cluster's current state,
	// e.g. the only voter cannot leave (409, with the error's message).
	ErrRefused = errors.New("refused")
)

// leaveTimeout bounds a leave, which runs to its end even when the client
// goes away: a leave cut in the middle would leave the node out of raft
// but still in gossip.
const leaveTimeout = 90 * time.Second

// maxJoinAddrs bounds a join request; a cluster has a handful of nodes.
const maxJoinAddrs = 64

// notReady reports the cluster failures that mean "retry later": no
// leader, a timeout, or a peer that could not be reached.
func notReady(err error) bool {
	for _, target := range []error{
		cluster.ErrNoLeader, cluster.ErrTimeout, cluster.ErrNotLeader, cluster.ErrNotSent, cluster.ErrShutdown,
		context.DeadlineExceeded,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// clusteringDisabled is the answer of every membership operation on a
// node that runs without clustering.
func clusteringDisabled() *Error {
	return errf(http.StatusNotImplemented, api.CodeNotImplemented, "clustering is not enabled on this node")
}

// Members lists the cluster's nodes, sorted by node id.
func (s *Service) Members(ctx context.Context) ([]api.Member, error) {
	if s.d.Membership == nil {
		return nil, clusteringDisabled()
	}
	out, err := s.d.Membership.Members(ctx)
	if err != nil {
		return nil, s.membershipError(fmt.Errorf("list members: %w", err))
	}
	if out == nil {
		out = []api.Member{}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out, nil
}

// Join makes this node join the cluster of the members at addrs and
// returns its view of the cluster afterwards.
func (s *Service) Join(ctx context.Context, addrs []string) (api.Cluster, error) {
	if s.d.Membership == nil {
		return api.Cluster{}, clusteringDisabled()
	}
	if err := checkJoinAddrs(addrs); err != nil {
		return api.Cluster{}, err
	}
	if err := s.d.Membership.Join(ctx, addrs); err != nil {
		return api.Cluster{}, s.membershipError(fmt.Errorf("join %v: %w", addrs, err))
	}
	s.log.Info("joined the cluster", "through", addrs)
	return s.Cluster(ctx)
}

// checkJoinAddrs accepts a non-empty list of HOST:PORT with a port in
// 1..65535; the hosts are resolved by the join itself.
func checkJoinAddrs(addrs []string) error {
	if len(addrs) == 0 {
		return invalid("addrs is required: the gossip HOST:PORT of at least one member of the cluster to join")
	}
	if len(addrs) > maxJoinAddrs {
		return invalid("at most %d addrs may be given, got %d", maxJoinAddrs, len(addrs))
	}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return invalid("address %q is not HOST:PORT", a)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return invalid("address %q: port %q is not a number from 1 to 65535", a, port)
		}
	}
	return nil
}

// Leave makes this node leave the cluster; the caller answers the client
// and the server exits afterwards.
func (s *Service) Leave(ctx context.Context) (api.LeaveResult, error) {
	if s.d.Membership == nil {
		return api.LeaveResult{}, clusteringDisabled()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaveTimeout)
	defer cancel()
	if err := s.d.Membership.Leave(ctx); err != nil {
		return api.LeaveResult{}, s.membershipError(fmt.Errorf("leave: %w", err))
	}
	s.log.Info("left the cluster")
	return api.LeaveResult{Status: "left", NodeID: s.d.NodeID}, nil
}

// Remove forces a node that is not alive out of the cluster.
func (s *Service) Remove(ctx context.Context, nodeID string) error {
	if s.d.Membership == nil {
		return clusteringDisabled()
	}
	if nodeID == "" {
		return invalid("node_id is required")
	}
	if nodeID == s.d.NodeID {
		return errf(http.StatusConflict, api.CodeConflict,
			"node %s is the node you asked; run `strata leave` on it to take it out of the cluster", nodeID)
	}
	err := s.d.Membership.Remove(ctx, nodeID)
	switch {
	case err == nil:
		s.log.Info("node removed from the cluster", "node_id", nodeID)
		return nil
	case errors.Is(err, ErrUnknownNode):
		return errf(http.StatusNotFound, api.CodeNotFound, "node %s is not a member of the cluster", nodeID)
	case errors.Is(err, ErrMemberAlive):
		return errf(http.StatusConflict, api.CodeConflict,
			"node %s is alive; stop it or run `strata leave` on it first", nodeID)
	}
	return s.membershipError(fmt.Errorf("remove %s: %w", nodeID, err))
}

// membershipError maps a membership failure to its answer. Unlike the
// other endpoints', these messages are passed on: they name the peers and
// addresses involved, which is what the operator needs to act on, and
// only the admin credential sees them.
func (s *Service) membershipError(err error) error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	switch {
	case errors.Is(err, gossip.ErrWrongKey), errors.Is(err, gossip.ErrOtherCluster), errors.Is(err, ErrMemberAlive),
		errors.Is(err, ErrRefused):
		return errf(http.StatusConflict, api.CodeConflict, "%s", err.Error())
	case errors.Is(err, ErrUnknownNode):
		return errf(http.StatusNotFound, api.CodeNotFound, "%s", err.Error())
	case notReady(err):
		return errf(http.StatusServiceUnavailable, api.CodeNotReady, "%s; retry later", err.Error())
	}
	s.log.Warn("membership operation failed", "err", err)
	return errf(http.StatusServiceUnavailable, api.CodeNotReady, "%s", err.Error())
}
