package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/iam"
	"github.com/stratagw/strata/internal/atomicfile"
	"github.com/stratagw/strata/internal/sealbox"
)

// CredentialFile is the JSON layout of admin-credential.json.
type CredentialFile struct {
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

// ReadCredentialFile reads an admin credential file.
func ReadCredentialFile(path string) (CredentialFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return CredentialFile{}, fmt.Errorf("read admin credential: %w", err)
	}
	var c CredentialFile
	if err := json.Unmarshal(b, &c); err != nil {
		return CredentialFile{}, fmt.Errorf("admin credential file %s: %w", path, err)
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		return CredentialFile{}, fmt.Errorf("admin credential file %s: access_key or secret_key missing", path)
	}
	return c, nil
}

// startRaft decides how this node enters a cluster. A node with raft state
// resumes without waiting for a leader (a restarting cluster elects one
// once a quorum is back; requests wait until then). A node without state
// bootstraps a new cluster when told to, and otherwise waits for a leader
// to add it (--join, or `strata join` later).
func (s *Server) startRaft(ctx context.Context) error {
	has, err := s.node.HasState()
	if err != nil {
		return err
	}
	if !has {
		if s.cfg.Bootstrap {
			return s.bootstrap(ctx)
		}
		s.log.Info("no raft state: waiting to be added to a cluster", "join", s.cfg.Join)
		return nil
	}
	_, ok, err := s.fsm.Config()
	if err != nil {
		return fmt.Errorf("read cluster config: %w", err)
	}
	if ok {
		return s.resumeCredential(ctx)
	}
	if s.cfg.Bootstrap {
		// Bootstrapped, but stopped before the cluster was initialised.
		return s.bootstrap(ctx)
	}
	return nil
}

// bootstrap forms the one-voter cluster if there is no raft state, waits
// until this node leads, and initialises the cluster if that has not
// happened yet (a crash between bootstrap and init is completed here).
func (s *Server) bootstrap(ctx context.Context) error {
	// The new cluster's id fences port 9100 from the moment this node
	// forms the cluster: members of another cluster (one that knew this
	// address before its data directory was wiped) must not replicate
	// into it. initialize commits the same id.
	id, err := newClusterID()
	if err != nil {
		return err
	}
	fresh := false
	if has, err := s.node.HasState(); err == nil && !has {
		fresh = true
		if _, restored, _ := s.fsm.Config(); !restored {
			s.cnet.setFenceID(id)
		}
	}
	if err := s.node.Bootstrap(ctx); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	if err := s.node.WaitForLeader(wctx); err != nil {
		return fmt.Errorf("wait for raft leader: %w", err)
	}
	if err := s.node.ReadBarrier(wctx); err != nil {
		return fmt.Errorf("catch up with the raft log: %w", err)
	}
	cfg, ok, err := s.fsm.Config()
	if err != nil {
		return fmt.Errorf("read cluster config: %w", err)
	}
	if ok {
		s.cnet.setFenceID(cfg.ClusterID)
		if fresh {
			// A new raft log under a state file that already holds a
			// cluster: a restored backup. Nodes added later must get the
			// state as a snapshot, not by replaying the (empty) log.
			if err := s.node.CompactLog(wctx); err != nil {
				return fmt.Errorf("snapshot the restored state for future members: %w", err)
			}
			s.log.Info("restored state bootstrapped; snapshot taken so that joining nodes receive it")
		}
		return s.resumeCredential(ctx)
	}
	return s.initialize(ctx, id)
}

// resumeCredential learns the admin key pair on a restart: from Config
// (checked against the state) or from the credential file. Unsealing it
// also proves the cluster key is the one this data directory was sealed
// with; a wrong key fails the start instead of every request.
func (s *Server) resumeCredential(ctx context.Context) error {
	if s.accessKey == "" {
		if c, err := ReadCredentialFile(s.CredentialFile()); err == nil {
			s.accessKey, s.secretKey = c.AccessKey, c.SecretKey
		}
	}
	if s.accessKey == "" {
		return s.checkClusterKey(ctx)
	}
	_, secret, ok, err := s.creds.Lookup(ctx, s.accessKey)
	switch {
	case errors.Is(err, sealbox.ErrOpen):
		return fmt.Errorf("the cluster key does not open this data directory's secrets (it was bootstrapped with another key): %w", err)
	case err != nil:
		return fmt.Errorf("check admin credential: %w", err)
	case !ok || secret != s.secretKey:
		s.log.Warn("the configured admin credential is not this cluster's admin credential (that was fixed at bootstrap); it is ignored",
			"access_key", s.accessKey)
		s.accessKey, s.secretKey = "", ""
	}
	return nil
}

// checkClusterKey proves the cluster key opens this data directory's
// secrets by unsealing the admin credential, whose access key this process
// does not know: a wrong key must fail the start, not every request.
func (s *Server) checkClusterKey(ctx context.Context) error {
	creds, err := s.fsm.Credentials()
	if err != nil {
		return fmt.Errorf("check cluster key: %w", err)
	}
	for _, c := range creds {
		if !c.Admin {
			continue
		}
		_, _, _, err := s.creds.Lookup(ctx, c.AccessKey)
		if errors.Is(err, sealbox.ErrOpen) {
			return fmt.Errorf("the cluster key does not open this data directory's secrets (it was created with another key): %w", err)
		}
		if err != nil {
			return fmt.Errorf("check cluster key: %w", err)
		}
		return nil
	}
	return nil
}

// initialize applies InitCluster with a new cluster id and the admin
// credential, then adds the development backend when asked. A generated
// credential is written to its file before it is committed, so it cannot
// be lost to a crash in between.
func (s *Server) initialize(ctx context.Context, id string) error {
	now := time.Now().UTC()
	generated := false
	if s.accessKey == "" {
		if err := s.generateCredential(); err != nil {
			return err
		}
		generated = true
	}
	cred, err := iam.NewCredential(s.box, s.accessKey, s.secretKey, true, "admin", now)
	if err != nil {
		return fmt.Errorf("admin credential: %w", err)
	}
	res, err := s.node.Apply(ctx, fsm.CmdInitCluster, fsm.InitCluster{
		Config: fsm.ClusterConfig{ClusterID: id, CreatedAt: now},
		Admin:  cred,
	})
	if err == nil && res.Err != nil {
		err = res.Err
	}
	if err != nil {
		if generated {
			os.Remove(s.CredentialFile())
		}
		return fmt.Errorf("initialise cluster: %w", err)
	}
	s.initialized = true
	s.log.Info("cluster initialised", "cluster_id", id, "admin_access_key", s.accessKey)
	if s.cfg.DevBackend {
		return s.addDevBackend(ctx)
	}
	return nil
}

func (s *Server) generateCredential() error {
	ak, err := iam.GenerateAccessKey()
	if err != nil {
		return err
	}
	sk, err := iam.GenerateSecretKey()
	if err != nil {
		return err
	}
	if err := writeCredentialFile(s.CredentialFile(), CredentialFile{AccessKey: ak, SecretKey: sk}); err != nil {
		return err
	}
	s.accessKey, s.secretKey = ak, sk
	return nil
}

// writeCredentialFile writes the file atomically with mode 0600.
func writeCredentialFile(path string, c CredentialFile) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode admin credential: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return fmt.Errorf("write admin credential: %w", err)
	}
	return nil
}

// addDevBackend adds the fs backend under <data-dir>/fs through the admin
// API's own code path and makes its region the default.
func (s *Server) addDevBackend(ctx context.Context) error {
	root := s.devRoot()
	if err := os.MkdirAll(root, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create dev backend root: %w", err)
	}
	be, err := s.adminSvc.AddBackend(ctx, api.AddBackend{Name: DevBackendName, Type: "fs", Path: root})
	if err != nil {
		return fmt.Errorf("add dev backend: %w", err)
	}
	if len(be.Regions) > 0 {
		if err := s.adminSvc.SetDefaultRegion(ctx, be.Regions[0]); err != nil {
			return fmt.Errorf("set default region: %w", err)
		}
	}
	s.log.Info("development backend added", "name", be.Name, "path", root, "regions", be.Regions)
	return nil
}

func newClusterID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate cluster id: %w", err)
	}
	return hex.EncodeToString(b), nil
}
