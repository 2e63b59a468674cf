package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/cluster/clusternet"
	"github.com/stratagw/strata/cluster/gossip"
	"github.com/stratagw/strata/cluster/rpc"
)

// PeersFileName keeps the gossip addresses of the last known members, so a
// restarted node finds its cluster even when its --join targets are gone.
const PeersFileName = "peers.json"

// joinRetryInterval is the pause between two rounds of --join attempts.
const joinRetryInterval = 2 * time.Second

// clusterNet is the node's port 9100 (raft and the cluster RPC behind one
// cluster-key authenticated TLS listener) and its gossip.
type clusterNet struct {
	id     *clusternet.Identity
	mux    *clusternet.Mux
	rpcSrv *rpc.Server
	client *rpc.Client
	gossip *gossip.Gossip
	// raftAddr is the advertised raft (and RPC) address.
	raftAddr string
	// clusterID is the id published in gossip meta ("" until known).
	clusterID atomic.Value
	// fenceID is the cluster id port 9100 checks peers against: set as
	// soon as this node knows it (before raft starts, for a node with
	// state) and never unset.
	fenceID atomic.Value
}

// setFenceID sets the id port 9100 fences with; "" is ignored.
func (c *clusterNet) setFenceID(id string) {
	if id != "" {
		c.fenceID.Store(id)
	}
}

// fence is the identity's cluster id source (an atomic load).
func (c *clusterNet) fence() string {
	v, _ := c.fenceID.Load().(string)
	return v
}

// listenCluster opens port 9100 behind the cluster-key TLS mux, fences it
// with the cluster id this node's state already holds, and returns the
// listener raft takes (the RPC server takes the mux's other one).
func (s *Server) listenCluster() (net.Listener, error) {
	id, err := clusternet.NewIdentity(s.cfg.ClusterKey)
	if err != nil {
		return nil, fmt.Errorf("cluster identity: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.RaftAddr)
	if err != nil {
		return nil, fmt.Errorf("raft listener: %w", err)
	}
	advertise, err := advertiseAddr(s.cfg.Advertise, ln.Addr())
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.cnet = &clusterNet{id: id, raftAddr: advertise}
	s.cnet.clusterID.Store("")
	// A node with state fences with its cluster id before raft reads a
	// single connection.
	if cfg, ok, err := s.fsm.Config(); err == nil && ok {
		s.cnet.setFenceID(cfg.ClusterID)
	}
	id.SetClusterID(s.cnet.fence)
	s.cnet.mux = clusternet.NewMux(ln, id, s.log)
	s.cnet.client = rpc.NewClient(func(ctx context.Context, addr string) (net.Conn, error) {
		return id.Dial(ctx, addr, clusternet.ProtoRPC)
	})
	return s.cnet.mux.Listener(clusternet.ProtoRaft), nil
}

// serveRPC answers other nodes' forwarded writes, read-index requests,
// removals, status queries and fs checks.
func (s *Server) serveRPC() {
	s.cnet.rpcSrv = rpc.NewServer(rpc.NodeService{Node: s.node, Describe: s.status}, s.log)
	s.cnet.rpcSrv.HandleFSCheck(s.answerFSCheck)
	ln := s.cnet.mux.Listener(clusternet.ProtoRPC)
	go func() {
		if err := s.cnet.rpcSrv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Error("cluster rpc server stopped", "err", err)
		}
	}()
}

// status is this node's NodeStatus with its advertised addresses.
func (s *Server) status() cluster.NodeStatus {
	st := s.node.Status()
	st.RaftAddr = s.cnet.raftAddr
	if s.cnet.gossip != nil {
		st.GossipAddr = s.cnet.gossip.LocalAddr()
	}
	st.S3URL, st.AdminURL = s.advertisedURL(s.s3Ln), s.advertisedURL(s.adminLn)
	st.ClusterID, _ = s.cnet.clusterID.Load().(string)
	return st
}

// advertisedURL is the URL other hosts use for a listener: the advertised
// host with the listener's port.
func (s *Server) advertisedURL(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return ""
	}
	host, _, err := net.SplitHostPort(s.cnet.raftAddr)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}).String()
}

// startGossip joins the gossip layer, publishes this node's addresses and
// cluster id, and starts the autopilot (it acts on the leader only) and
// the --join loop.
func (s *Server) startGossip(ctx context.Context) error {
	host, _, err := net.SplitHostPort(s.cnet.raftAddr)
	if err != nil {
		return fmt.Errorf("advertised raft address %s: %w", s.cnet.raftAddr, err)
	}
	// The first gossip message must already carry the cluster id, or a
	// member of another cluster could merge before it is known.
	if cfg, ok, err := s.fsm.Config(); err == nil && ok {
		s.cnet.clusterID.Store(cfg.ClusterID)
	}
	g, err := gossip.Start(ctx, gossip.Config{
		NodeID:         s.cfg.NodeID,
		BindAddr:       s.cfg.GossipAddr,
		Advertise:      gossipAdvertise(s.cfg.GossipAdvertise, host),
		ClusterKey:     s.cfg.ClusterKey,
		Meta:           s.gossipMeta,
		PeersFile:      filepath.Join(s.cfg.DataDir, PeersFileName),
		RejoinInterval: s.cfg.GossipRejoinInterval,
		Fast:           s.cfg.FastGossip,
		Logger:         s.log,
	})
	if err != nil {
		return fmt.Errorf("start gossip on %s: %w", s.cfg.GossipAddr, err)
	}
	s.cnet.gossip = g
	ap := s.node.NewAutopilot(cluster.AutopilotConfig{
		Peers: s.peers, Changed: g.Changed, Probe: s.cnet.client.Status,
		Interval: s.cfg.AutopilotInterval, Stabilization: s.cfg.AutopilotStabilization,
	})
	s.goWorker(ap.Run)
	s.goWorker(s.publishClusterID)
	if len(s.cfg.Join) > 0 {
		s.goWorker(s.joinLoop)
	}
	return nil
}

// gossipAdvertise is the gossip address to advertise: the configured one,
// else the advertised raft host (memberlist then takes its bound port).
func gossipAdvertise(configured, raftHost string) string {
	if configured != "" {
		return configured
	}
	return raftHost
}

// gossipMeta is this node's gossip meta, read whenever memberlist asks.
func (s *Server) gossipMeta() gossip.Meta {
	id, _ := s.cnet.clusterID.Load().(string)
	return gossip.Meta{
		NodeID: s.cfg.NodeID, RaftAddr: s.cnet.raftAddr, ClusterID: id,
		S3URL: s.advertisedURL(s.s3Ln), AdminURL: s.advertisedURL(s.adminLn),
	}
}

// peers is the gossip member list as the autopilot sees it.
func (s *Server) peers() []cluster.Peer {
	ms := s.cnet.gossip.Members()
	out := make([]cluster.Peer, 0, len(ms))
	for _, m := range ms {
		out = append(out, cluster.Peer{
			ID: m.Name, RaftAddr: m.Meta.RaftAddr,
			Alive: m.State == gossip.StateAlive || m.State == gossip.StateSuspect,
			Left:  m.State == gossip.StateLeft || m.Leaving,
		})
	}
	return out
}

// publishClusterID puts the cluster id into gossip meta once this node's
// state has it (a joining node learns it from the log), so that merges
// with another cluster's members are refused.
func (s *Server) publishClusterID(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		cfg, ok, err := s.fsm.Config()
		if err == nil && ok {
			s.cnet.setFenceID(cfg.ClusterID)
			if old, _ := s.cnet.clusterID.Load().(string); old != cfg.ClusterID {
				s.cnet.clusterID.Store(cfg.ClusterID)
				if err := s.cnet.gossip.UpdateMeta(ctx); err != nil {
					s.log.Warn("publish cluster id in gossip", "err", err)
					s.cnet.clusterID.Store(old) // try again next tick
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// joinLoop contacts the --join members until this node is part of the
// raft configuration. One answer is not enough: nodes started together may
// first find only each other, before the member that leads is listening,
// and two gossip groups never meet on their own; so while this node has
// not been added it keeps joining the listed members. A member that holds
// another cluster key or belongs to another cluster is a configuration
// error no retry can fix: the node stops and says why.
func (s *Server) joinLoop(ctx context.Context) {
	t := time.NewTicker(joinRetryInterval)
	defer t.Stop()
	for first := true; ; first = false {
		if s.inCluster(ctx) {
			if !first {
				s.log.Info("joined the cluster", "via", s.cfg.Join)
			}
			return
		}
		_, err := s.cnet.gossip.JoinRetry(ctx, s.cfg.Join, joinRetryInterval)
		switch {
		case errors.Is(err, gossip.ErrWrongKey), errors.Is(err, gossip.ErrOtherCluster):
			if has, _ := s.node.HasState(); has {
				// A member of a cluster must not stop over one bad
				// contact: its raft state and peers file find the rest.
				s.log.Error("join: a listed member cannot be joined; relying on this node's raft state", "via", s.cfg.Join, "err", err)
				return
			}
			s.fail(fmt.Errorf("cannot join %v: %w", s.cfg.Join, err))
			return
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Warn("join: no listed member answered yet", "via", s.cfg.Join, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// inCluster reports whether this node is in a raft configuration.
func (s *Server) inCluster(ctx context.Context) bool {
	servers, err := s.node.Servers(ctx)
	return err == nil && containsServer(servers, s.cfg.NodeID)
}

// joinCluster is `strata join`: contact the given members, then wait until
// the leader has added this node and it has caught up.
func (s *Server) joinCluster(ctx context.Context, addrs []string) error {
	if _, err := s.cnet.gossip.Join(ctx, addrs); err != nil {
		return err
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		servers, err := s.node.Servers(ctx)
		if err == nil && containsServer(servers, s.cfg.NodeID) && s.node.Ready() && len(servers) > 1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("joined the gossip of %v, but the leader has not added this node yet (%w); it keeps trying", addrs, cluster.ErrTimeout)
		case <-t.C:
		}
	}
}

func containsServer(servers []cluster.ServerInfo, id string) bool {
	for _, sv := range servers {
		if sv.ID == id {
			return true
		}
	}
	return false
}

// closeCluster stops gossip (without a leave: a stopped node may come
// back), the RPC server and the mux.
func (c *clusterNet) close() {
	if c == nil {
		return
	}
	if c.gossip != nil {
		c.gossip.Close()
	}
	if c.rpcSrv != nil {
		c.rpcSrv.Close()
	}
	if c.client != nil {
		c.client.Close()
	}
	if c.mux != nil {
		c.mux.Close()
	}
}
