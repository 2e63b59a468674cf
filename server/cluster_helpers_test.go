package server

import (
	"testing"
	"time"
)

// clusterConfig is a fast-timeout node config for in-process clusters.
func clusterConfig(t *testing.T, id string, join []string) Config {
	return Config{
		NodeID: id, DataDir: t.TempDir(), S3Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		RaftAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0",
		Bootstrap: len(join) == 0, Join: join, ClusterKey: testKey, DevBackend: true,
		AdminAccessKey: "AKIAADMINTEST0000001", AdminSecretKey: "secretsecretsecretsecretsecretsecret0001",
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond, ApplyTimeout: 5 * time.Second,
		FastGossip: true, GossipRejoinInterval: 500 * time.Millisecond, AutopilotInterval: 200 * time.Millisecond,
	}
}
