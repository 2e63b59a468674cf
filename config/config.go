// Package config owns a node's local settings: the YAML configuration
// file (with ${VAR} expansion and strict field checking), the command-line
// overrides, defaults and validation, and the cluster key's resolution.
// Everything cluster-wide (backends, regions, credentials) lives in raft
// and is changed through the admin API, never here.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is one node's settings. The zero value plus Defaults is the
// zero-config development node.
type Config struct {
	NodeID     string `yaml:"node_id"`
	DataDir    string `yaml:"data_dir"`
	S3Addr     string `yaml:"s3_addr"`
	AdminAddr  string `yaml:"admin_addr"`
	RaftAddr   string `yaml:"raft_addr"`
	GossipAddr string `yaml:"gossip_addr"`
	// Advertise is the host (or host:port) other nodes dial for raft;
	// empty means the raft address (127.0.0.1 when that binds all
	// interfaces).
	Advertise string `yaml:"advertise"`
	// Bootstrap forms a new one-voter cluster when the node has no raft
	// state. A node given neither join nor advertise bootstraps anyway
	// (the zero-config development node); any other node without it
	// waits to be added to a cluster.
	Bootstrap bool     `yaml:"bootstrap"`
	Join      []string `yaml:"join"`
	// ClusterKeyFile holds the base64 cluster key; STRATA_CLUSTER_KEY
	// takes precedence over the default <data-dir>/cluster.key.
	ClusterKeyFile string   `yaml:"cluster_key_file"`
	Domains        []string `yaml:"domains"`
	// FSLockdown restricts fs backends to FSAllowedRoots; nil means on.
	FSLockdown     *bool    `yaml:"fs_lockdown"`
	FSAllowedRoots []string `yaml:"fs_allowed_roots"`
	// Consistency is "strong" (reads wait for the leader's commit index)
	// or "local" (stale local reads).
	Consistency  string        `yaml:"consistency"`
	UploadExpiry time.Duration `yaml:"upload_expiry"`
	// OrphanGrace is how old a backing object no record points at must be
	// before the orphan cleaner deletes it; OrphanInterval is the time
	// between two sweeps.
	OrphanGrace time.Duration `yaml:"orphan_grace"`
	// RepairGrace is how old a record whose backing bytes are gone must be
	// before a read or delete of its key removes it (0: 5m; negative:
	// never). It covers backends that briefly answer "not found" for an
	// object just written (eventually consistent stores, NFS caches).
	RepairGrace       time.Duration `yaml:"repair_grace"`
	OrphanInterval    time.Duration `yaml:"orphan_interval"`
	SnapshotInterval  time.Duration `yaml:"snapshot_interval"`
	SnapshotThreshold uint64        `yaml:"snapshot_threshold"`
	TrailingLogs      uint64        `yaml:"trailing_logs"`
	// Raft timeouts (0: raft's defaults, 1 s / 1 s / 500 ms). Shorter
	// ones fail over faster on a quiet LAN and flap on a busy one.
	HeartbeatTimeout   time.Duration `yaml:"heartbeat_timeout"`
	ElectionTimeout    time.Duration `yaml:"election_timeout"`
	LeaderLeaseTimeout time.Duration `yaml:"leader_lease_timeout"`
	// ApplyTimeout bounds how long a write or strong read waits for a
	// leader and its commit before the client gets 503.
	ApplyTimeout time.Duration `yaml:"apply_timeout"`
	LogLevel     string        `yaml:"log_level"`
	LogFormat    string        `yaml:"log_format"`
	// DevBackend adds an fs backend "local" under <data-dir>/fs when a new
	// cluster is bootstrapped, so a fresh node serves S3 at once; nil
	// means on.
	DevBackend *bool `yaml:"dev_backend"`
}

// Defaults of a node started with no configuration.
const (
	DefaultDataDir   = "strata-data"
	DefaultS3Addr    = ":9000"
	DefaultAdminAddr = ":9001"
	// DefaultRaftAddr carries raft and the cluster RPC, both behind TLS
	// authenticated by the cluster key.
	DefaultRaftAddr       = ":9100"
	DefaultGossipAddr     = ":9101"
	DefaultConsistency    = "strong"
	DefaultUploadExpiry   = 24 * time.Hour
	DefaultOrphanGrace    = time.Hour
	DefaultOrphanInterval = time.Hour
	DefaultLogLevel       = "info"
	DefaultLogFormat      = "text"
)

// Load reads a configuration file: ${VAR} references are replaced by
// environment variables (an unset variable is an error, "$$" is a literal
// "$"), and an unknown field is an error naming its line.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b, os.LookupEnv)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes configuration text; lookup resolves ${VAR} references.
func Parse(text []byte, lookup func(string) (string, bool)) (Config, error) {
	expanded, err := expand(text, lookup)
	if err != nil {
		return Config{}, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, yamlError(err)
	}
	return c, nil
}

// expand replaces $VAR and ${VAR} line by line, so that line numbers in
// later errors still match the file. Comment lines are left alone: a
// commented-out reference to an unset variable must not fail the load.
func expand(text []byte, lookup func(string) (string, bool)) ([]byte, error) {
	lines := strings.Split(string(text), "\n")
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "#") || !strings.Contains(line, "$") {
			continue
		}
		var missing []string
		lines[i] = os.Expand(line, func(name string) string {
			if name == "$" {
				return "$"
			}
			v, ok := lookup(name)
			if !ok {
				missing = append(missing, name)
			}
			return v
		})
		if len(missing) > 0 {
			return nil, fmt.Errorf("line %d: environment variable %s is not set", i+1, strings.Join(missing, ", "))
		}
	}
	return []byte(strings.Join(lines, "\n")), nil
}

// yamlError turns yaml's messages ("yaml: unmarshal errors:\n  line 3:
// field foo not found in type config.Config") into one readable line.
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, 0, len(te.Errors))
		for _, m := range te.Errors {
			m = strings.Replace(m, " not found in type config.Config", " is unknown", 1)
			msgs = append(msgs, m)
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

// DefaultGossipAddrFor is the gossip address used when none is set:
// DefaultGossipAddr, or a free port on the raft address's host when the
// raft address asks for a free port (tests and throw-away nodes).
func DefaultGossipAddrFor(raftAddr string) string {
	if host, port, err := net.SplitHostPort(raftAddr); err == nil && port == "0" {
		return net.JoinHostPort(host, "0")
	}
	return DefaultGossipAddr
}

// ApplyDefaults fills every unset field with its default. hostname is the
// node id used when none is configured.
func (c *Config) ApplyDefaults(hostname string) {
	setDefault(&c.NodeID, hostname)
	setDefault(&c.DataDir, DefaultDataDir)
	setDefault(&c.S3Addr, DefaultS3Addr)
	setDefault(&c.AdminAddr, DefaultAdminAddr)
	setDefault(&c.RaftAddr, DefaultRaftAddr)
	setDefault(&c.GossipAddr, DefaultGossipAddrFor(c.RaftAddr))
	setDefault(&c.Consistency, DefaultConsistency)
	setDefault(&c.LogLevel, DefaultLogLevel)
	setDefault(&c.LogFormat, DefaultLogFormat)
	if c.UploadExpiry == 0 {
		c.UploadExpiry = DefaultUploadExpiry
	}
	if c.OrphanGrace == 0 {
		c.OrphanGrace = DefaultOrphanGrace
	}
	if c.OrphanInterval == 0 {
		c.OrphanInterval = DefaultOrphanInterval
	}
	if c.FSLockdown == nil {
		on := true
		c.FSLockdown = &on
	}
	if c.DevBackend == nil {
		on := true
		c.DevBackend = &on
	}
}

func setDefault(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

// WantDevBackend reports whether bootstrap adds the development backend.
func (c *Config) WantDevBackend() bool { return c.DevBackend == nil || *c.DevBackend }

// Lockdown reports whether fs backends are restricted to the allow-list.
func (c *Config) Lockdown() bool { return c.FSLockdown == nil || *c.FSLockdown }

// Validate checks the settings and returns every problem found, one per
// line, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.NodeID == "" {
		bad("node_id", "must not be empty")
	} else if strings.ContainsAny(c.NodeID, " \t\r\n/") {
		bad("node_id", "%q must not contain white space or '/'", c.NodeID)
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	for _, a := range []struct{ field, addr string }{
		{"s3_addr", c.S3Addr}, {"admin_addr", c.AdminAddr},
		{"raft_addr", c.RaftAddr}, {"gossip_addr", c.GossipAddr},
	} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			bad(a.field, "%q is not HOST:PORT or :PORT", a.addr)
		}
	}
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			bad("join", "%q is not HOST:PORT", j)
		}
	}
	for _, d := range c.Domains {
		if d == "" || strings.ContainsAny(d, " /:") {
			bad("domains", "%q is not a domain name", d)
		}
	}
	for _, r := range c.FSAllowedRoots {
		if !filepath.IsAbs(r) {
			bad("fs_allowed_roots", "%q is not an absolute path", r)
		}
	}
	if c.Consistency != "strong" && c.Consistency != "local" {
		bad("consistency", "%q must be strong or local", c.Consistency)
	}
	if c.UploadExpiry < 0 {
		bad("upload_expiry", "must not be negative")
	}
	if c.OrphanGrace < 0 {
		bad("orphan_grace", "must not be negative")
	}
	if c.OrphanInterval < 0 {
		bad("orphan_interval", "must not be negative")
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"snapshot_interval", c.SnapshotInterval}, {"heartbeat_timeout", c.HeartbeatTimeout},
		{"election_timeout", c.ElectionTimeout}, {"leader_lease_timeout", c.LeaderLeaseTimeout},
		{"apply_timeout", c.ApplyTimeout},
	} {
		if d.v < 0 {
			bad(d.field, "must not be negative")
		}
	}
	if c.HeartbeatTimeout > 0 && c.HeartbeatTimeout < 5*time.Millisecond {
		bad("heartbeat_timeout", "%s is too short (at least 5ms)", c.HeartbeatTimeout)
	}
	if c.ElectionTimeout > 0 && c.ElectionTimeout < 5*time.Millisecond {
		bad("election_timeout", "%s is too short (at least 5ms)", c.ElectionTimeout)
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		bad("log_level", "%v", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log_format", "%q must be text or json", c.LogFormat)
	}
	return errors.Join(errs...)
}
