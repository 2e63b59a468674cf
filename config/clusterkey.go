package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stratagw/strata/internal/sealbox"
)

// ClusterKeyEnv is the environment variable holding the base64 cluster key.
const ClusterKeyEnv = "STRATA_CLUSTER_KEY"

// ClusterKeyFileName is the generated key's file inside the data directory.
const ClusterKeyFileName = "cluster.key"

// ClusterKey is a resolved cluster key and where it came from.
type ClusterKey struct {
	Key []byte
	// Source describes the origin for logs: "env STRATA_CLUSTER_KEY" or a
	// file path.
	Source string
	// Generated is true when the key was just created because none was
	// given; the caller should warn that every other node needs it.
	Generated bool
}

// ResolveClusterKey finds the cluster key: the env value (if not empty),
// else the configured file, else <data-dir>/cluster.key, which is created
// (mode 0600) with a new random key when missing — unless the data
// directory already holds raft state, which a new key could not open.
func (c *Config) ResolveClusterKey(envValue string) (ClusterKey, error) {
	if envValue != "" {
		k, err := sealbox.ParseKey(envValue)
		if err != nil {
			return ClusterKey{}, fmt.Errorf("%s: %w", ClusterKeyEnv, err)
		}
		return ClusterKey{Key: k, Source: "env " + ClusterKeyEnv}, nil
	}
	if c.ClusterKeyFile != "" {
		k, err := readKeyFile(c.ClusterKeyFile)
		if err != nil {
			return ClusterKey{}, err
		}
		return ClusterKey{Key: k, Source: c.ClusterKeyFile}, nil
	}
	path := filepath.Join(c.DataDir, ClusterKeyFileName)
	k, err := readKeyFile(path)
	if err == nil {
		return ClusterKey{Key: k, Source: path}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return ClusterKey{}, err
	}
	// A data directory with raft state was sealed with some key: a new
	// one would only fail later, less clearly (every peer refusing it).
	if c.hasState() {
		return ClusterKey{}, fmt.Errorf("%s already holds cluster state, but no cluster key was given: set %s or --cluster-key-file to the key it was created with",
			c.DataDir, ClusterKeyEnv)
	}
	k, err = generateKeyFile(path)
	if err != nil {
		return ClusterKey{}, err
	}
	return ClusterKey{Key: k, Source: path, Generated: true}, nil
}

func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster key file: %w", err)
	}
	k, err := sealbox.ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("cluster key file %s: %w", path, err)
	}
	return k, nil
}

// generateKeyFile writes a new key with O_EXCL, so two processes starting
// on one data directory cannot end up with different keys.
func generateKeyFile(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	s, err := sealbox.GenerateKey()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create cluster key file: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write cluster key file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write cluster key file: %w", err)
	}
	return sealbox.ParseKey(s)
}

// hasState reports whether the data directory holds raft state or a state
// file (a restored backup has only the latter).
func (c *Config) hasState() bool {
	for _, p := range []string{filepath.Join("raft", "raft.db"), filepath.Join("fsm", "state.db")} {
		if _, err := os.Stat(filepath.Join(c.DataDir, p)); err == nil {
			return true
		}
	}
	return false
}
