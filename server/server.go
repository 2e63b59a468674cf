// Package server wires one strata node together in-process: the FSM, the
// raft node, the backend pool, the credential store, the S3 gateway, the
// admin API and the background workers, plus their HTTP listeners. It owns
// the bootstrap of a new cluster (cluster config, admin credential, the
// development fs backend). cmd/strata is a thin shell around Start, and
// tests use Start to get a real running node without a process.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/stratagw/strata/admin"
	"github.com/stratagw/strata/backend/pool"
	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/config"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/gateway"
	"github.com/stratagw/strata/gateway/sigv4"
	"github.com/stratagw/strata/iam"
	"github.com/stratagw/strata/internal/sealbox"
	"github.com/stratagw/strata/replication"
)

// Config configures one node. Listen addresses may use port 0.
type Config struct {
	NodeID  string
	DataDir string
	// S3Addr, AdminAddr and RaftAddr are listen addresses.
	S3Addr    string
	AdminAddr string
	RaftAddr  string
	// GossipAddr is the gossip (memberlist) listen address; port 0 picks
	// a free port.
	GossipAddr string
	// Advertise is the raft address other nodes dial: HOST or HOST:PORT.
	// Empty: the raft listener's address, or 127.0.0.1 when it listens on
	// every interface. Its host is also advertised for gossip, S3 and
	// admin URLs.
	Advertise string
	// GossipAdvertise overrides the advertised gossip address (HOST or
	// HOST:PORT); empty: the advertised host.
	GossipAdvertise string
	// Bootstrap forms a new one-voter cluster when there is no raft state
	// (a no-op otherwise) and initialises it.
	Bootstrap bool
	// Join lists gossip addresses (HOST:PORT) of members of an existing
	// cluster; a node without raft state then waits to be added by the
	// leader instead of bootstrapping.
	Join []string
	// ClusterKey is the 32-byte key sealing secrets in the FSM.
	ClusterKey []byte
	// AdminAccessKey/AdminSecretKey become the admin credential when the
	// cluster is initialised; empty means generate one and write it to
	// CredentialFile.
	AdminAccessKey string
	AdminSecretKey string
	// Domains are the base domains of virtual-hosted-style requests.
	Domains []string
	// FSLockdown restricts fs backends to FSAllowedRoots (plus
	// <DataDir>/fs, the development backend's root).
	FSLockdown     bool
	FSAllowedRoots []string
	// DevBackend adds an fs backend "local" under <DataDir>/fs when the
	// cluster is initialised, and makes its region the default.
	DevBackend bool
	// UploadExpiry is how long an incomplete multipart upload may go
	// without a new part before it is aborted (0:
	// replication.DefaultUploadExpiry).
	UploadExpiry time.Duration
	// OrphanGrace is how old a backing object without a record must be
	// before the orphan cleaner deletes it; OrphanInterval is the time
	// between two sweeps (0: replication.DefaultOrphanGrace,
	// replication.DefaultOrphanInterval).
	OrphanGrace    time.Duration
	OrphanInterval time.Duration
	// RepairGrace is how old a record whose bytes are gone must be before
	// a read or delete of its key removes it (0: the gateway's default;
	// negative: never).
	RepairGrace time.Duration
	// Consistency is "strong" (default) or "local".
	Consistency string
	// Raft tuning; zero means the cluster package's defaults.
	SnapshotInterval   time.Duration
	SnapshotThreshold  uint64
	TrailingLogs       uint64
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// ApplyTimeout bounds how long a write or strong read waits (for a
	// leader during an election, for the commit) before it fails with 503.
	ApplyTimeout time.Duration
	// FastGossip uses short gossip probe intervals (tests);
	// GossipRejoinInterval and AutopilotInterval tune the background loops
	// (0: the packages' defaults).
	FastGossip           bool
	GossipRejoinInterval time.Duration
	AutopilotInterval    time.Duration
	// AutopilotStabilization is how long a new node must be reachable and
	// caught up before it becomes a voter (0: cluster's default, 2 s).
	AutopilotStabilization time.Duration
	// MaxObjectSize bounds a single PUT (0: the gateway's 5 GiB).
	MaxObjectSize int64
	// ReadyTimeout bounds how long Start waits for the bootstrapped node to
	// elect itself (0: 30 seconds).
	ReadyTimeout time.Duration
	Logger       *slog.Logger
}

// CredentialFileName is the admin credential file inside the data
// directory, written (mode 0600) when the credential was generated.
const CredentialFileName = "admin-credential.json"

// DevBackendName is the fs backend created for a development node.
const DevBackendName = "local"

// shutdownTimeout bounds how long Close waits for in-flight HTTP requests.
const shutdownTimeout = 10 * time.Second

// drainTimeout bounds how long Close then waits for writes that already
// reached a backend to commit (requests cut off by the HTTP shutdown, a
// CompleteMultipartUpload still assembling) before it stops raft.
const drainTimeout = time.Minute

// Server is one running node.
type Server struct {
	cfg Config
	log *slog.Logger
	box *sealbox.Box

	fsm      *fsm.FSM
	node     *cluster.Node
	cnet     *clusterNet
	pool     *pool.Pool
	creds    *iam.Store
	adminSvc *admin.Service

	gw              *gateway.Gateway
	s3Srv, adminSrv *http.Server
	s3Ln, adminLn   net.Listener

	accessKey, secretKey string
	initialized          bool

	workerCtx   context.Context
	stopWorkers context.CancelFunc
	workers     sync.WaitGroup
	closeOnce   sync.Once
	closeErr    error

	// done is closed when the node must stop on its own: after `strata
	// leave`, or on a fatal error (doneErr).
	done     chan struct{}
	doneOnce sync.Once
	doneErr  error
}

// Start opens the node's state, starts raft, initialises a new cluster when
// bootstrapping, and starts serving the S3 and admin APIs. On error
// everything already started is stopped again.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, accessKey: cfg.AdminAccessKey, secretKey: cfg.AdminSecretKey,
		done: make(chan struct{})}
	s.workerCtx, s.stopWorkers = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.box, err = sealbox.New(cfg.ClusterKey); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := s.openState(ctx); err != nil {
		return nil, err
	}
	s.pool = pool.New(s.fsm, s.box, s.fsOptions())
	s.creds = iam.NewStore(s.fsm, s.box)
	s.adminSvc = admin.NewService(admin.ServiceDeps{
		NodeID: cfg.NodeID, State: s.fsm, Cluster: s.node, OpenBackend: s.pool.Open,
		Box: s.box, Logger: s.log, Membership: membership{s}, CheckSharedPath: s.checkSharedPath,
	})
	if err := s.startRaft(ctx); err != nil {
		return nil, err
	}
	if err := s.listen(); err != nil {
		return nil, err
	}
	// Gossip starts before anything is served: handlers use it, and its
	// meta carries the listeners' addresses.
	if err := s.startGossip(ctx); err != nil {
		return nil, err
	}
	if err := s.serve(); err != nil {
		return nil, err
	}
	s.serveRPC()
	s.startWorkers()
	return s, nil
}

// check rejects configurations Start cannot work with.
func (c *Config) check() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("node id is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is required"))
	}
	if len(c.ClusterKey) != sealbox.KeySize {
		errs = append(errs, fmt.Errorf("cluster key must be %d bytes, got %d", sealbox.KeySize, len(c.ClusterKey)))
	}
	if (c.AdminAccessKey == "") != (c.AdminSecretKey == "") {
		errs = append(errs, errors.New("admin access key and secret key must be given together"))
	} else if c.AdminAccessKey != "" {
		if err := iam.ValidateKeyPair(c.AdminAccessKey, c.AdminSecretKey); err != nil {
			errs = append(errs, fmt.Errorf("admin credential: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("server config: %w", err)
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.S3Addr == "" {
		c.S3Addr = ":9000"
	}
	if c.AdminAddr == "" {
		c.AdminAddr = ":9001"
	}
	if c.RaftAddr == "" {
		c.RaftAddr = ":9100"
	}
	if c.GossipAddr == "" {
		c.GossipAddr = config.DefaultGossipAddrFor(c.RaftAddr)
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 30 * time.Second
	}
}

// devRoot is the development fs backend's root directory.
func (s *Server) devRoot() string {
	abs, err := filepath.Abs(filepath.Join(s.cfg.DataDir, "fs"))
	if err != nil {
		return filepath.Join(s.cfg.DataDir, "fs")
	}
	return abs
}

// allowedRoots is the fs allow-list: the configured roots plus the data
// directory's fs root, so the development backend is always allowed.
func (s *Server) allowedRoots() []string {
	return append(append([]string(nil), s.cfg.FSAllowedRoots...), s.devRoot())
}

// openState opens the FSM and starts the raft node on port 9100's
// cluster-key TLS mux (so that ":0" works and the advertised address is
// known).
func (s *Server) openState(ctx context.Context) error {
	var err error
	if s.fsm, err = fsm.Open(filepath.Join(s.cfg.DataDir, "fsm", "state.db"), s.log); err != nil {
		return fmt.Errorf("open state: %w", err)
	}
	raftLn, err := s.listenCluster()
	if err != nil {
		return err
	}
	s.node, err = cluster.New(cluster.Config{
		NodeID: s.cfg.NodeID, DataDir: s.cfg.DataDir, Listener: raftLn, Advertise: s.cnet.raftAddr,
		Dial: s.cnet.id.RaftDialer(), LeaderClient: s.cnet.client,
		FSM: s.fsm, Logger: s.log, SnapshotInterval: s.cfg.SnapshotInterval,
		SnapshotThreshold: s.cfg.SnapshotThreshold, TrailingLogs: s.cfg.TrailingLogs,
		HeartbeatTimeout: s.cfg.HeartbeatTimeout, ElectionTimeout: s.cfg.ElectionTimeout,
		LeaderLeaseTimeout: s.cfg.LeaderLeaseTimeout, ApplyTimeout: s.cfg.ApplyTimeout,
		Consistency: s.cfg.Consistency,
	})
	if err != nil {
		raftLn.Close()
		return fmt.Errorf("raft node: %w", err)
	}
	if err := s.node.Open(ctx); err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	return nil
}

// advertiseAddr completes the configured advertise address with the raft
// listener's port, and falls back to loopback for a wildcard listener.
func advertiseAddr(advertise string, bound net.Addr) (string, error) {
	_, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return "", fmt.Errorf("raft listener address %s: %w", bound, err)
	}
	if advertise == "" {
		host, _, _ := net.SplitHostPort(bound.String())
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		return net.JoinHostPort(host, port), nil
	}
	if _, _, err := net.SplitHostPort(advertise); err == nil {
		return advertise, nil
	}
	return net.JoinHostPort(advertise, port), nil
}

// listen opens the S3 and admin listeners (serve starts serving them).
func (s *Server) listen() error {
	var err error
	if s.s3Ln, err = net.Listen("tcp", s.cfg.S3Addr); err != nil {
		return fmt.Errorf("s3 listener: %w", err)
	}
	if s.adminLn, err = net.Listen("tcp", s.cfg.AdminAddr); err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	return nil
}

// serve starts the S3 and admin HTTP servers on the listeners.
func (s *Server) serve() error {
	gw, err := gateway.New(gateway.Config{Domains: s.cfg.Domains, MaxObjectSize: s.cfg.MaxObjectSize, RepairGrace: s.cfg.RepairGrace}, gateway.Deps{
		State: s.fsm, Cluster: s.node, Backends: s.pool, Credentials: s.creds, Logger: s.log,
	})
	if err != nil {
		return fmt.Errorf("s3 gateway: %w", err)
	}
	adminHandler := admin.NewHandler(admin.HandlerDeps{
		Service:     s.adminSvc,
		Verifier:    sigv4.NewVerifier(adminCredentials{s}.Secret, sigv4.Options{}),
		Credentials: adminCredentials{s},
		Logger:      s.log,
	})
	s.gw = gw
	s.s3Srv = s.newHTTPServer(gw)
	s.adminSrv = s.newHTTPServer(adminHandler)
	go s.runHTTP("s3", s.s3Srv, s.s3Ln)
	go s.runHTTP("admin", s.adminSrv, s.adminLn)
	return nil
}

// newHTTPServer has no read or write timeout: a 5 GiB PUT or GET may take
// long, and a stalled one ends with the idle connection, not a fixed limit.
func (s *Server) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

func (s *Server) runHTTP(name string, srv *http.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("http server stopped", "server", name, "err", err)
	}
}

// startWorkers runs the background workers until Close.
func (s *Server) startWorkers() {
	reaper := replication.NewUploadReaper(s.fsm, s.node, s.pool,
		replication.UploadReaperOptions{Expiry: s.cfg.UploadExpiry}, s.log)
	orphans := replication.NewOrphanCleaner(s.fsm, s.node, s.pool,
		replication.OrphanCleanerOptions{Grace: s.cfg.OrphanGrace, Interval: s.cfg.OrphanInterval}, s.log)
	s.goWorker(reaper.Run)
	s.goWorker(orphans.Run)
}

// goWorker runs fn until Close cancels its context.
func (s *Server) goWorker(fn func(context.Context)) {
	s.workers.Add(1)
	go func() {
		defer s.workers.Done()
		fn(s.workerCtx)
	}()
}

// Done is closed when the node must stop on its own: it left the cluster
// (`strata leave`) or hit an error it cannot recover from (see Err). The
// owner then calls Close.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the reason Done was closed; nil after a graceful leave.
func (s *Server) Err() error {
	select {
	case <-s.done:
		return s.doneErr
	default:
		return nil
	}
}

// fail asks the owner to stop the node with err.
func (s *Server) fail(err error) {
	s.doneOnce.Do(func() {
		s.log.Error("stopping", "err", err)
		s.doneErr = err
		close(s.done)
	})
}

// exitAfterLeave asks the owner to stop the node after a graceful leave.
func (s *Server) exitAfterLeave() {
	s.doneOnce.Do(func() { close(s.done) })
}

// S3URL is the S3 endpoint (a wildcard listener shows as 127.0.0.1).
func (s *Server) S3URL() string { return "http://" + dialable(s.s3Ln.Addr()) }

// AdminURL is the admin API endpoint.
func (s *Server) AdminURL() string { return "http://" + dialable(s.adminLn.Addr()) }

func dialable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// AdminCredential returns the admin key pair when this process knows it
// (given in Config, generated by this start, or read from the credential
// file); empty strings otherwise.
func (s *Server) AdminCredential() (accessKey, secretKey string) {
	return s.accessKey, s.secretKey
}

// Initialized reports whether this Start created the cluster (first
// bootstrap run); the CLI prints the credential only then.
func (s *Server) Initialized() bool { return s.initialized }

// drainGateway waits (bounded) for the gateway's in-flight writes to
// commit: stopping raft under a write whose bytes already replaced an
// object on the backend would leave that object's record pointing at
// bytes it does not describe.
func (s *Server) drainGateway() {
	if s.gw == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := s.gw.Drain(ctx); err != nil {
		s.log.Warn("stopping with S3 writes still in flight; their commits may be lost", "err", err)
	}
}

// CredentialFile is the path of the admin credential file.
func (s *Server) CredentialFile() string {
	return filepath.Join(s.cfg.DataDir, CredentialFileName)
}

// State is the node's local state (read-only), for tests and tools.
func (s *Server) State() fsm.Reader { return s.fsm }

// Close stops serving (in-flight requests get shutdownTimeout to finish),
// stops the workers and raft, and closes the state. Safe to call twice.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		for _, srv := range []*http.Server{s.s3Srv, s.adminSrv} {
			if srv == nil {
				continue
			}
			if err := srv.Shutdown(ctx); err != nil {
				srv.Close()
			}
		}
		for _, ln := range []net.Listener{s.s3Ln, s.adminLn} {
			if ln != nil {
				ln.Close() // a listener Serve never took
			}
		}
		s.drainGateway()
		if s.stopWorkers != nil {
			s.stopWorkers()
			s.workers.Wait()
		}
		if s.node != nil {
			if err := s.node.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close raft: %w", err))
			}
		}
		s.cnet.close()
		if s.pool != nil {
			s.pool.Close()
		}
		if s.fsm != nil {
			if err := s.fsm.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close state: %w", err))
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
