package gossip

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config configures a gossip member.
type Config struct {
	// NodeID is the member's name in gossip; unique in the cluster.
	NodeID string
	// BindAddr is host:port for gossip (TCP and UDP). Port 0 picks a free one.
	BindAddr string
	// Advertise is the host or host:port other members reach this node at;
	// "" means the bind address. Host names are resolved once at Start,
	// since memberlist gossips IP addresses.
	Advertise string
	// ClusterKey is the cluster's shared secret; the gossip key is derived
	// from it (HKDF-SHA256, info "strata gossip v1").
	ClusterKey []byte
	// Meta returns the current local meta. memberlist calls it (through
	// this package) with its own locks held, from its goroutines: it must
	// be cheap, must not block, and must not take a lock its owner holds
	// while calling into Gossip (an atomic value is the safe choice).
	Meta func() Meta
	// PeersFile holds the gossip addresses of the last known alive members
	// (JSON list); "" keeps none.
	PeersFile string
	// RejoinInterval is how often known members that are not alive are
	// contacted again; 0 means 10s.
	RejoinInterval time.Duration
	// Fast selects test timings: failures are detected in about a second.
	Fast bool
	// Logger receives memberlist's log lines; nil discards them.
	Logger *slog.Logger
}

// gossipKeyInfo separates the gossip key from other keys derived from the
// cluster key (TLS identity, secret sealing).
const gossipKeyInfo = "strata gossip v1"

// minClusterKey is the least key material accepted; the cluster key is
// 32 random bytes, anything much shorter is a mistake.
const minClusterKey = 16

// deriveGossipKey returns the 32-byte AES-256 key memberlist encrypts with.
func deriveGossipKey(clusterKey []byte) ([]byte, error) {
	if len(clusterKey) < minClusterKey {
		return nil, fmt.Errorf("cluster key is %d bytes, need at least %d", len(clusterKey), minClusterKey)
	}
	key, err := hkdf.Key(sha256.New, clusterKey, nil, gossipKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive gossip key: %w", err)
	}
	return key, nil
}

// withDefaults validates cfg and fills in defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.NodeID == "" {
		return cfg, errors.New("gossip: node id is empty")
	}
	if cfg.Meta == nil {
		return cfg, errors.New("gossip: no Meta function")
	}
	if cfg.RejoinInterval < 0 {
		return cfg, fmt.Errorf("gossip: negative rejoin interval %s", cfg.RejoinInterval)
	}
	if cfg.RejoinInterval == 0 {
		cfg.RejoinInterval = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// memberlistConfig builds memberlist's configuration from cfg; d is the
// delegate for every hook.
func memberlistConfig(ctx context.Context, cfg Config, d *delegate) (*memberlist.Config, error) {
	var mc *memberlist.Config
	if cfg.Fast {
		mc = memberlist.DefaultLocalConfig()
		mc.ProbeInterval = 200 * time.Millisecond
		mc.ProbeTimeout = 100 * time.Millisecond
		mc.GossipInterval = 50 * time.Millisecond
		mc.PushPullInterval = 2 * time.Second
		mc.SuspicionMult = 2
		mc.GossipToTheDeadTime = 5 * time.Second
		mc.DeadNodeReclaimTime = 500 * time.Millisecond
		mc.TCPTimeout = time.Second
	} else {
		mc = memberlist.DefaultLANConfig()
		// A node restarted with another IP (a container) may take its name
		// back once the old incarnation has been dead this long, instead of
		// waiting until memberlist forgets it.
		mc.DeadNodeReclaimTime = 30 * time.Second
		mc.TCPTimeout = 5 * time.Second
	}
	mc.Name = cfg.NodeID

	bindHost, bindPort, err := splitHostPort(cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("gossip bind address %q: %w", cfg.BindAddr, err)
	}
	if bindHost == "" {
		bindHost = "0.0.0.0"
	}
	mc.BindAddr, mc.BindPort = bindHost, bindPort

	if cfg.Advertise != "" {
		host, port := cfg.Advertise, bindPort
		if h, p, err := net.SplitHostPort(cfg.Advertise); err == nil {
			host = h
			if port, err = parsePort(p); err != nil {
				return nil, fmt.Errorf("gossip advertise address %q: %w", cfg.Advertise, err)
			}
		}
		ip, err := resolveHost(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("gossip advertise address %q: %w", cfg.Advertise, err)
		}
		mc.AdvertiseAddr, mc.AdvertisePort = ip, port
	}

	key, err := deriveGossipKey(cfg.ClusterKey)
	if err != nil {
		return nil, err
	}
	ring, err := memberlist.NewKeyring(nil, key)
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	mc.Keyring = ring
	mc.GossipVerifyIncoming = true
	mc.GossipVerifyOutgoing = true

	mc.Delegate = d
	mc.Events = d
	mc.Merge = d
	mc.Alive = d
	mc.Logger = log.New(logWriter{l: cfg.Logger.With("component", "gossip")}, "", 0)
	return mc, nil
}

// splitHostPort splits host:port; the port must be given (0 allowed).
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := parsePort(p)
	if err != nil {
		return "", 0, err
	}
	return host, port, nil
}

// parsePort parses a TCP/UDP port number.
func parsePort(p string) (int, error) {
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return 0, fmt.Errorf("invalid port %q", p)
	}
	return port, nil
}

// resolveHost returns host as an IP string, resolving a name (IPv4
// preferred, since that is what container networks hand out).
func resolveHost(ctx context.Context, host string) (string, error) {
	if host == "" {
		return "", errors.New("empty host")
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("resolve %s: no addresses", host)
	}
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return a.IP.String(), nil
		}
	}
	return addrs[0].IP.String(), nil
}
