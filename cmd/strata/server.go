package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/stratagw/strata/config"
	"github.com/stratagw/strata/server"
)

// serverCmd is `strata server`.
type serverCmd struct {
	Config string `name:"config" type:"existingfile" help:"YAML configuration file (flags override it)."`
	config.Overrides
}

// Run starts the node and serves until SIGINT or SIGTERM.
func (c *serverCmd) Run(e env) error {
	cfg, err := c.load()
	if err != nil {
		return err
	}
	logger, err := cfg.NewLogger(e.stderr)
	if err != nil {
		return err
	}
	key, err := cfg.ResolveClusterKey(e.getenv(config.ClusterKeyEnv))
	if err != nil {
		return err
	}
	if key.Generated {
		logger.Warn("no cluster key given: generated one; every node of this cluster needs the same key (--cluster-key-file or STRATA_CLUSTER_KEY)",
			"file", key.Source)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.Start(ctx, server.Config{
		NodeID: cfg.NodeID, DataDir: cfg.DataDir, S3Addr: cfg.S3Addr, AdminAddr: cfg.AdminAddr,
		RaftAddr: cfg.RaftAddr, GossipAddr: cfg.GossipAddr, Advertise: cfg.Advertise,
		// See autoBootstrap; with both --bootstrap and --join, --join only
		// names gossip contacts for finding the cluster again after a
		// restart.
		Bootstrap:      cfg.Bootstrap || autoBootstrap(cfg),
		Join:           cfg.Join,
		ClusterKey:     key.Key,
		AdminAccessKey: e.getenv("STRATA_ADMIN_ACCESS_KEY"), AdminSecretKey: e.getenv("STRATA_ADMIN_SECRET_KEY"),
		Domains:    cfg.Domains,
		FSLockdown: cfg.Lockdown(), FSAllowedRoots: cfg.FSAllowedRoots,
		DevBackend:   cfg.WantDevBackend(),
		UploadExpiry: cfg.UploadExpiry, Consistency: cfg.Consistency,
		OrphanGrace: cfg.OrphanGrace, OrphanInterval: cfg.OrphanInterval, RepairGrace: cfg.RepairGrace,
		SnapshotInterval: cfg.SnapshotInterval, SnapshotThreshold: cfg.SnapshotThreshold, TrailingLogs: cfg.TrailingLogs,
		HeartbeatTimeout: cfg.HeartbeatTimeout, ElectionTimeout: cfg.ElectionTimeout,
		LeaderLeaseTimeout: cfg.LeaderLeaseTimeout, ApplyTimeout: cfg.ApplyTimeout,
		Logger: logger,
	})
	if err != nil {
		return err
	}
	printBanner(e.stdout, cfg, srv)
	select {
	case <-ctx.Done():
	case <-srv.Done(): // left the cluster, or a fatal error
	}
	stop() // a second Ctrl-C during shutdown kills the process
	logger.Info("shutting down")
	cerr := srv.Close()
	if err := srv.Err(); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("shutdown: %w", cerr)
	}
	logger.Info("stopped")
	return nil
}

// load builds the effective configuration: file, then flags, then
// defaults, then validation.
func (c *serverCmd) load() (config.Config, error) {
	var cfg config.Config
	if c.Config != "" {
		var err error
		if cfg, err = config.Load(c.Config); err != nil {
			return cfg, err
		}
	}
	cfg.Apply(c.Overrides)
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "strata"
	}
	cfg.ApplyDefaults(host)
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("invalid configuration:\n%w", err)
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return cfg, fmt.Errorf("data dir: %w", err)
	}
	cfg.DataDir = abs
	return cfg, nil
}

// printBanner tells the operator where the node listens and how to use
// it. The secret is shown only on the run that generated it.
func printBanner(w io.Writer, cfg config.Config, srv *server.Server) {
	fmt.Fprintf(w, "strata %s is running (node %s, data in %s)\n", version, cfg.NodeID, cfg.DataDir)
	fmt.Fprintf(w, "  S3 endpoint:    %s\n", srv.S3URL())
	fmt.Fprintf(w, "  admin endpoint: %s\n", srv.AdminURL())
	ak, sk := srv.AdminCredential()
	credFile := srv.CredentialFile()
	_, statErr := os.Stat(credFile)
	hasFile := statErr == nil || !errors.Is(statErr, fs.ErrNotExist)
	switch {
	case srv.Initialized() && hasFile:
		fmt.Fprintf(w, "\nAdmin credential (shown once; saved in %s, mode 0600):\n", credFile)
		fmt.Fprintf(w, "  access key: %s\n  secret key: %s\n\n", ak, sk)
		fmt.Fprintf(w, "  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL=%s\n",
			ak, sk, srv.S3URL())
	case srv.Initialized():
		fmt.Fprintf(w, "\nAdmin credential: access key %s (from STRATA_ADMIN_ACCESS_KEY / STRATA_ADMIN_SECRET_KEY)\n", ak)
	case hasFile:
		fmt.Fprintf(w, "\nAdmin credential: in %s\n", credFile)
	default:
		fmt.Fprintln(w, "\nAdmin credential: the one set when this cluster was bootstrapped")
	}
}

// autoBootstrap reports whether a node not given --bootstrap forms a
// cluster of its own anyway: the zero-config development node does. A
// node that is told to join, or that advertises an address for other
// nodes to reach (so it is meant for a cluster), waits instead to be added
// (--join, or `strata join` later) — otherwise it would bootstrap a
// cluster of its own that no other cluster can ever take in.
func autoBootstrap(cfg config.Config) bool {
	return len(cfg.Join) == 0 && cfg.Advertise == ""
}
