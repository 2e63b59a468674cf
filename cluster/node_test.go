package cluster

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stratagw/strata/fsm"
)

// TestNewRejectsBadConfig: New refuses configs that cannot work.
func TestNewRejectsBadConfig(t *testing.T) {
	f, err := fsm.Open(filepath.Join(t.TempDir(), "state.db"), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no node id", func(c *Config) { c.NodeID = "" }, "NodeID"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "DataDir"},
		{"no fsm", func(c *Config) { c.FSM = nil }, "FSM"},
		{"no address", func(c *Config) { c.BindAddr = "" }, "BindAddr"},
		{"bad consistency", func(c *Config) { c.Consistency = "eventual" }, "Consistency"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := fastConfig(t.TempDir(), f)
			c.mod(&cfg)
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error about %s", err, c.want)
			}
		})
	}
}

// TestOpenFailures: Open fails cleanly (and can be retried elsewhere) on
// addresses that cannot be advertised and on a data directory in use.
func TestOpenFailures(t *testing.T) {
	t.Run("wildcard bind without advertise", func(t *testing.T) {
		f, err := fsm.Open(filepath.Join(t.TempDir(), "state.db"), testLogger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		cfg := fastConfig(t.TempDir(), f)
		cfg.BindAddr = "0.0.0.0:0"
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "Advertise") {
			t.Fatalf("Open: %v, want an error asking for Advertise", err)
		}
		// The raft.db lock was released: the same directory opens again.
		cfg.Advertise = "127.0.0.1"
		n2, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n2.Close() })
		if err := n2.Open(context.Background()); err != nil {
			t.Fatalf("Open with Advertise: %v", err)
		}
		if _, port, _ := net.SplitHostPort(string(n2.transport.LocalAddr())); port == "0" || port == "" {
			t.Fatalf("advertised %s: port not taken from the listener", n2.transport.LocalAddr())
		}
	})
	t.Run("data directory in use", func(t *testing.T) {
		dir := t.TempDir()
		startNode(t, dir)
		f, err := fsm.Open(filepath.Join(t.TempDir(), "other.db"), testLogger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		n, err := New(fastConfig(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = n.Open(context.Background())
		if err == nil || !strings.Contains(err.Error(), "locked") {
			t.Fatalf("second Open on the same directory: %v, want a lock error", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("second Open took %v", time.Since(start))
		}
	})
	t.Run("methods before open", func(t *testing.T) {
		f, err := fsm.Open(filepath.Join(t.TempDir(), "state.db"), testLogger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		n, err := New(fastConfig(t.TempDir(), f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Apply(context.Background(), fsm.CmdDeleteObject, fsm.DeleteObject{}); !errors.Is(err, ErrNotOpen) {
			t.Fatalf("Apply before Open: %v, want ErrNotOpen", err)
		}
		if n.Ready() || n.IsLeader() {
			t.Fatal("unopened node reports ready/leader")
		}
		if err := n.Close(); err != nil {
			t.Fatalf("Close of an unopened node: %v", err)
		}
	})
}

// TestStatusAfterBootstrap covers Leader, Ready, Stats and a bootstrap
// repeated on existing state.
func TestStatusAfterBootstrap(t *testing.T) {
	tn := startNode(t, t.TempDir())
	if err := tn.Bootstrap(context.Background()); err != nil {
		t.Fatalf("second Bootstrap: %v", err)
	}
	id, addr := tn.Leader()
	if id != "node-1" || addr != string(tn.transport.LocalAddr()) {
		t.Fatalf("Leader() = %q, %q", id, addr)
	}
	waitFor(t, 5*time.Second, "ready", tn.Ready)
	seed(t, tn, "b")
	st := tn.Stats()
	if st["state"] != "Leader" || st["node_id"] != "node-1" || st["fsm_applied_index"] == "0" || st["consistency"] != ConsistencyStrong {
		t.Fatalf("Stats = %v", st)
	}
}

// TestHclogAdapter: raft's hclog calls land in slog with levels, names and
// formatted values.
func TestHclogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHclogAdapter(l, "raft")
	h.Trace("hidden trace")
	h.Named("transport").With("peer", "n2").Info("connected", "servers", hclog.Fmt("%d+%d", 1, 2))
	h.SetLevel(hclog.Warn)
	h.Info("hidden by SetLevel")
	h.Error("failed", "error", errors.New("boom"))
	out := buf.String()
	for _, want := range []string{
		`level=INFO msg=connected component=raft subsystem=raft.transport peer=n2 servers=1+2`,
		`level=ERROR msg=failed component=raft error=boom`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hidden") {
		t.Errorf("filtered records were written:\n%s", out)
	}
	if !h.IsError() || h.IsInfo() || h.IsTrace() {
		t.Error("Is* do not follow the levels")
	}
}
