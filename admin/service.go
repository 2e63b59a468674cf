// Package admin serves the admin API: JSON under /v1/ on the admin port,
// SigV4-signed with the admin credential (the same verifier as the S3 API),
// plus unauthenticated /health and /ready. Its Service holds the
// operations themselves (add a backend, rename a region, …) so the server
// can run them at bootstrap through the same code path. It changes state
// only through Cluster.Apply and never logs or returns secrets.
package admin

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/internal/sealbox"
)

// Cluster is what the admin API needs from the raft node (*cluster.Node).
type Cluster interface {
	Apply(ctx context.Context, t fsm.CommandType, body any) (fsm.Result, error)
	ReadBarrier(ctx context.Context) error
	Leader() (id, addr string)
	Ready() bool
	Stats() map[string]string
}

// OpenBackend opens a backend from its configuration, enforcing the node's
// fs lockdown (pool.Pool.Open / pool.Open).
type OpenBackend func(ctx context.Context, cfg backend.Config) (backend.Backend, error)

// ServiceDeps are the collaborators of the admin operations.
type ServiceDeps struct {
	NodeID      string
	State       fsm.Reader
	Cluster     Cluster
	OpenBackend OpenBackend
	// Box seals backend secrets with the cluster key.
	Box    *sealbox.Box
	Logger *slog.Logger
	// Now is the clock used for record timestamps (nil: time.Now).
	Now func() time.Time
	// CheckTimeout bounds the reachability check of a new backend
	// (0: 15 seconds).
	CheckTimeout time.Duration
	// CheckSharedPath verifies, before an fs backend is added, that every
	// node of the cluster sees its directory (nil: no check, the node
	// runs without clustering).
	CheckSharedPath SharedPathChecker
	// Membership joins, leaves and lists the cluster (nil: the node runs
	// without clustering and the /v1/cluster/ membership endpoints answer
	// 501 NotImplemented).
	Membership Membership
}

// Service implements the admin operations.
type Service struct {
	d   ServiceDeps
	log *slog.Logger
}

// NewService returns the admin operations over d.
func NewService(d ServiceDeps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.CheckTimeout <= 0 {
		d.CheckTimeout = 15 * time.Second
	}
	return &Service{d: d, log: d.Logger.With("component", "admin")}
}

// apply submits a command and returns the deterministic failure, if any,
// as the error.
func (s *Service) apply(ctx context.Context, t fsm.CommandType, body any) (fsm.Result, error) {
	res, err := s.d.Cluster.Apply(ctx, t, body)
	if err != nil {
		return res, fmt.Errorf("apply %s: %w", t, err)
	}
	if res.Err != nil {
		return res, res.Err
	}
	return res, nil
}

// Backends lists the backends with the virtual regions they back.
func (s *Service) Backends(ctx context.Context) ([]api.Backend, error) {
	if err := s.d.Cluster.ReadBarrier(ctx); err != nil {
		return nil, fmt.Errorf("read barrier: %w", err)
	}
	bes, err := s.d.State.Backends()
	if err != nil {
		return nil, fmt.Errorf("list backends: %w", err)
	}
	regions, err := s.d.State.Regions()
	if err != nil {
		return nil, fmt.Errorf("list regions: %w", err)
	}
	out := make([]api.Backend, 0, len(bes))
	for _, b := range bes {
		out = append(out, backendView(b, regions))
	}
	return out, nil
}

// backendView is the public face of a backend record: no secret.
func backendView(b fsm.Backend, regions []fsm.Region) api.Backend {
	v := api.Backend{
		ID: b.ID, Name: b.Name, Type: b.Type, Path: b.Path, Endpoint: b.Endpoint,
		Region: b.Region, PathStyle: b.PathStyle, AccessKey: b.AccessKey,
		Regions: []string{}, CreatedAt: b.CreatedAt,
	}
	for _, r := range regions {
		for _, br := range r.Backings {
			if br.BackendID == b.ID {
				v.Regions = append(v.Regions, r.Name)
				break
			}
		}
	}
	return v
}

// RemoveBackend removes a backend that no bucket uses.
func (s *Service) RemoveBackend(ctx context.Context, name string) error {
	if _, err := s.apply(ctx, fsm.CmdRemoveBackend, fsm.RemoveBackend{Name: name}); err != nil {
		return err
	}
	s.log.Info("backend removed", "name", name)
	return nil
}

// Regions lists the virtual regions.
func (s *Service) Regions(ctx context.Context) ([]api.Region, error) {
	if err := s.d.Cluster.ReadBarrier(ctx); err != nil {
		return nil, fmt.Errorf("read barrier: %w", err)
	}
	regions, err := s.d.State.Regions()
	if err != nil {
		return nil, fmt.Errorf("list regions: %w", err)
	}
	names, err := s.backendNames()
	if err != nil {
		return nil, err
	}
	def, err := s.defaultRegion(regions)
	if err != nil {
		return nil, err
	}
	out := make([]api.Region, 0, len(regions))
	for _, r := range regions {
		out = append(out, regionView(r, names, def))
	}
	return out, nil
}

func regionView(r fsm.Region, names map[string]string, def string) api.Region {
	v := api.Region{Name: r.Name, Default: r.Name == def, Backings: []api.BackingRegion{}}
	for _, br := range r.Backings {
		v.Backings = append(v.Backings, api.BackingRegion{Backend: names[br.BackendID], BackendID: br.BackendID, Region: br.Region})
	}
	return v
}

// defaultRegion is the configured default, or the only region when none
// is configured (the FSM's rule for CreateBucket).
func (s *Service) defaultRegion(regions []fsm.Region) (string, error) {
	cfg, _, err := s.d.State.Config()
	if err != nil {
		return "", fmt.Errorf("read cluster config: %w", err)
	}
	if cfg.DefaultRegion == "" && len(regions) == 1 {
		return regions[0].Name, nil
	}
	return cfg.DefaultRegion, nil
}

func (s *Service) backendNames() (map[string]string, error) {
	bes, err := s.d.State.Backends()
	if err != nil {
		return nil, fmt.Errorf("list backends: %w", err)
	}
	names := make(map[string]string, len(bes))
	for _, b := range bes {
		names[b.ID] = b.Name
	}
	return names, nil
}

// RenameRegion renames a virtual region (and every bucket's reference).
func (s *Service) RenameRegion(ctx context.Context, oldName, newName string) (api.Region, error) {
	if err := checkRegionName(newName); err != nil {
		return api.Region{}, err
	}
	if _, err := s.apply(ctx, fsm.CmdRenameRegion, fsm.RenameRegion{Old: oldName, New: newName}); err != nil {
		return api.Region{}, err
	}
	s.log.Info("region renamed", "old", oldName, "new", newName)
	r, ok, err := s.d.State.Region(newName)
	if err != nil || !ok {
		return api.Region{}, fmt.Errorf("read renamed region %q: ok=%v: %w", newName, ok, err)
	}
	regions, err := s.d.State.Regions()
	if err != nil {
		return api.Region{}, fmt.Errorf("list regions: %w", err)
	}
	names, err := s.backendNames()
	if err != nil {
		return api.Region{}, err
	}
	def, err := s.defaultRegion(regions)
	if err != nil {
		return api.Region{}, err
	}
	return regionView(r, names, def), nil
}

// SetDefaultRegion sets the region CreateBucket uses without a
// LocationConstraint.
func (s *Service) SetDefaultRegion(ctx context.Context, name string) error {
	if name == "" {
		return invalid("region is required")
	}
	if _, err := s.apply(ctx, fsm.CmdSetDefaultRegion, fsm.SetDefaultRegion{Region: name}); err != nil {
		return err
	}
	s.log.Info("default region set", "region", name)
	return nil
}

// Buckets lists the virtual buckets with their backing buckets.
func (s *Service) Buckets(ctx context.Context) ([]api.Bucket, error) {
	if err := s.d.Cluster.ReadBarrier(ctx); err != nil {
		return nil, fmt.Errorf("read barrier: %w", err)
	}
	buckets, err := s.d.State.Buckets()
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	names, err := s.backendNames()
	if err != nil {
		return nil, err
	}
	out := make([]api.Bucket, 0, len(buckets))
	for _, b := range buckets {
		v := api.Bucket{Name: b.Name, Region: b.Region, Owner: b.Owner, Imported: b.Imported,
			Backings: []api.BackingBucket{}, CreatedAt: b.CreatedAt}
		for _, bb := range b.Backings {
			v.Backings = append(v.Backings, api.BackingBucket{Backend: names[bb.BackendID], BackendID: bb.BackendID, Region: bb.Region, Name: bb.Name})
		}
		out = append(out, v)
	}
	return out, nil
}

// Cluster reports this node's view of the cluster. It reads local state
// only, so it answers even without a leader.
func (s *Service) Cluster(_ context.Context) (api.Cluster, error) {
	cfg, _, err := s.d.State.Config()
	if err != nil {
		return api.Cluster{}, fmt.Errorf("read cluster config: %w", err)
	}
	stats := s.d.Cluster.Stats()
	id, addr := s.d.Cluster.Leader()
	return api.Cluster{
		ClusterID: cfg.ClusterID, NodeID: s.d.NodeID, State: stats["state"],
		Leader: id, LeaderAddr: addr, Ready: s.d.Cluster.Ready(),
		AppliedIndex: s.d.State.AppliedIndex(), DefaultRegion: cfg.DefaultRegion, Stats: stats,
	}, nil
}

// Ready reports whether the node can serve: raft has a leader, the FSM has
// caught up and the cluster is initialised.
func (s *Service) Ready() (bool, string) {
	if !s.d.Cluster.Ready() {
		return false, "no raft leader yet or the state machine is catching up"
	}
	if _, ok, err := s.d.State.Config(); err != nil || !ok {
		return false, "the cluster is not initialised yet"
	}
	return true, ""
}
