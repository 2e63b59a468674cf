package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/stratagw/strata/config"
)

func TestMedianAndPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name        string
		sorted      []time.Duration
		median, p90 time.Duration
	}{
		{"one", ms(7), 7 * time.Millisecond, 7 * time.Millisecond},
		{"odd", ms(1, 2, 9), 2 * time.Millisecond, 9 * time.Millisecond},
		{"even", ms(1, 2, 4, 8), 3 * time.Millisecond, 8 * time.Millisecond},
		{"ten", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 5500 * time.Microsecond, 9 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.sorted); got != tc.median {
				t.Errorf("median = %v, want %v", got, tc.median)
			}
			if got := percentile(tc.sorted, 0.9); got != tc.p90 {
				t.Errorf("p90 = %v, want %v", got, tc.p90)
			}
		})
	}
}

func TestParseOnly(t *testing.T) {
	got, err := parseOnly(" cluster, small ,")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got["cluster"] || !got["small"] {
		t.Fatalf("parseOnly = %v, want cluster and small", got)
	}
	if _, err := parseOnly("cluster,nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("parseOnly(nope) error = %v, want one naming the scenario", err)
	}
	if o := (options{}); !o.want("list") {
		t.Fatal("no -only must run every scenario")
	}
}

// TestCPUSeconds burns CPU in a child process and checks that the reading
// from /proc grows by about as much.
func TestCPUSeconds(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	before, err := cpuSeconds(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	hostBefore, err := hostBusySeconds()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	after, err := cpuSeconds(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	hostAfter, err := hostBusySeconds()
	if err != nil {
		t.Fatal(err)
	}
	// A busy loop gets at least a share of a core even on a loaded host.
	if used := after - before; used < 0.05 || used > 0.6 {
		t.Errorf("child used %.2f CPU-seconds in 0.5 s, want a busy loop's share", used)
	}
	if hostAfter-hostBefore < after-before {
		t.Errorf("host busy grew %.2f s, less than the child's %.2f s", hostAfter-hostBefore, after-before)
	}
	if _, err := cpuSeconds(1 << 30); err == nil {
		t.Error("cpuSeconds of a missing pid: no error")
	}
}

// TestRaftTimeoutsConfig parses the --config file the tuned cluster gets
// with the node's own parser.
func TestRaftTimeoutsConfig(t *testing.T) {
	cfg, err := config.Parse([]byte(tunedRaftTimeouts.configYAML()), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	got := raftTimeouts{Heartbeat: cfg.HeartbeatTimeout, Election: cfg.ElectionTimeout, Lease: cfg.LeaderLeaseTimeout}
	if got != tunedRaftTimeouts {
		t.Fatalf("parsed %v, want %v", got, tunedRaftTimeouts)
	}
}

// TestDefaultRaftTimeouts keeps the report's "default" label true: a node
// with no timeouts configured runs with raft's defaults.
func TestDefaultRaftTimeouts(t *testing.T) {
	rc := raft.DefaultConfig()
	got := raftTimeouts{Heartbeat: rc.HeartbeatTimeout, Election: rc.ElectionTimeout, Lease: rc.LeaderLeaseTimeout}
	if got != defaultRaftTimeouts {
		t.Fatalf("raft.DefaultConfig has %v, the report says %v", got, defaultRaftTimeouts)
	}
}
