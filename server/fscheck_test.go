package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/admin/client"
	"github.com/stratagw/strata/cluster/rpc"
)

// noMarkers fails the test if a shared-path marker is left under root.
func noMarkers(t *testing.T, root string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(markerDir)))
	if err != nil {
		t.Fatalf("read the marker directory: %v", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), markerPrefix) {
			t.Errorf("marker %s left behind under %s", e.Name(), root)
		}
	}
}

// mkdir creates dir and returns it.
func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// wantRefused checks that err is a 409 whose message has every string of
// want and none of unwanted.
func wantRefused(t *testing.T, err error, want, unwanted []string) {
	t.Helper()
	var ae *client.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("AddBackend = %v, want a 409 refusal", err)
	}
	if ae.Status != http.StatusConflict || ae.Code != api.CodeConflict {
		t.Fatalf("AddBackend answered %d %s %q, want 409 %s", ae.Status, ae.Code, ae.Message, api.CodeConflict)
	}
	t.Logf("refused: %s", ae.Message)
	for _, w := range want {
		if !strings.Contains(ae.Message, w) {
			t.Errorf("message %q does not contain %q", ae.Message, w)
		}
	}
	for _, u := range unwanted {
		if strings.Contains(ae.Message, u) {
			t.Errorf("message %q contains %q", ae.Message, u)
		}
	}
}

// backendPaths lists the fs backend paths node n knows (through a read
// barrier, so it is the cluster's committed state).
func backendPaths(t *testing.T, n *tnode) map[string]string {
	t.Helper()
	out := map[string]string{}
	eventually(t, waitTimeout, "list backends via "+n.id(), func() error {
		bes, err := n.admin().Backends(ctxFor(t, 5*time.Second))
		if err != nil {
			return err
		}
		clear(out)
		for _, b := range bes {
			out[b.Name] = b.Path
		}
		return nil
	})
	return out
}

func TestFSBackendAddChecksSharedPath(t *testing.T) {
	shared := t.TempDir() // every node may use it
	local := t.TempDir()  // outside n2's allow-list: n2 cannot see it
	c := newCluster(t, 3, func(cfg *Config) {
		if cfg.NodeID == "n2" {
			cfg.FSLockdown, cfg.FSAllowedRoots = true, []string{shared}
		}
	})
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]

	t.Run("a path every node sees is added through a follower", func(t *testing.T) {
		entry := n3
		if c.leader() == n3 {
			entry = n1
		}
		dir := mkdir(t, filepath.Join(shared, "ok"))
		be, err := entry.admin().AddBackend(ctxFor(t, time.Minute), api.AddBackend{Name: "shared", Type: "fs", Path: dir})
		if err != nil {
			t.Fatalf("AddBackend via %s: %v", entry.id(), err)
		}
		if be.Path != dir {
			t.Errorf("added %+v, want path %s", be, dir)
		}
		noMarkers(t, dir)
		for _, n := range c.nodes {
			if got := backendPaths(t, n)["shared"]; got != dir {
				t.Errorf("%s: backend shared has path %q, want %q", n.id(), got, dir)
			}
		}
	})

	t.Run("a path one node cannot see is refused and nothing is committed", func(t *testing.T) {
		_, err := n1.admin().AddBackend(ctxFor(t, time.Minute), api.AddBackend{Name: "notshared", Type: "fs", Path: local})
		wantRefused(t, err, []string{
			fmt.Sprintf("fs backend path %s is not shared", local), "node n2 cannot read the marker",
			"not under an allowed root", "mount the same directory on every node",
		}, []string{"node n1", "node n3"})
		noMarkers(t, local)
		if p, ok := backendPaths(t, n2)["notshared"]; ok {
			t.Errorf("the refused backend was committed (path %s)", p)
		}
	})

	t.Run("an unreachable node refuses the add", func(t *testing.T) {
		n3.stop()
		dir := mkdir(t, filepath.Join(shared, "while-n3-is-down"))
		_, err := n1.admin().AddBackend(ctxFor(t, time.Minute), api.AddBackend{Name: "n3down", Type: "fs", Path: dir})
		wantRefused(t, err, []string{"node n3 at " + n3.cfg.RaftAddr + " is unreachable", "strata remove n3", "mount the same directory"},
			[]string{"node n2"})
		noMarkers(t, dir)
		if p, ok := backendPaths(t, n1)["n3down"]; ok {
			t.Errorf("the refused backend was committed (path %s)", p)
		}
	})
}

func TestAnswerFSCheck(t *testing.T) {
	allowed := t.TempDir()
	outside := t.TempDir()
	s := &Server{cfg: Config{NodeID: "n9", DataDir: t.TempDir(), FSLockdown: true, FSAllowedRoots: []string{allowed}}}
	// marker writes a real marker under a fresh directory of parent, as
	// the asking node does after its probe created .strata/tmp.
	marker := func(t *testing.T, parent string) rpc.FSCheck {
		t.Helper()
		root, err := os.MkdirTemp(parent, "root-")
		if err != nil {
			t.Fatal(err)
		}
		mkdir(t, filepath.Join(root, filepath.FromSlash(markerDir)))
		req, err := writeMarker(root)
		if err != nil {
			t.Fatalf("writeMarker: %v", err)
		}
		return req
	}
	tests := []struct {
		name string
		req  func(t *testing.T) rpc.FSCheck
		want string // "" = the check passes
	}{
		{name: "marker seen", req: func(t *testing.T) rpc.FSCheck { return marker(t, allowed) }},
		{name: "relative path", want: "is not absolute", req: func(t *testing.T) rpc.FSCheck {
			req := marker(t, allowed)
			rel, err := filepath.Rel(mustGetwd(t), req.Path)
			if err != nil {
				t.Fatal(err)
			}
			req.Path = rel
			return req
		}},
		{name: "not a marker name", want: "not a strata marker name", req: func(t *testing.T) rpc.FSCheck {
			req := marker(t, allowed)
			req.Marker = "../../../../etc/passwd"
			return req
		}},
		{name: "marker name with upper-case hex", want: "not a strata marker name", req: func(t *testing.T) rpc.FSCheck {
			req := marker(t, allowed)
			req.Marker = strings.ToUpper(req.Marker)
			return req
		}},
		{name: "outside the allow-list", want: "is not under an allowed root", req: func(t *testing.T) rpc.FSCheck {
			return marker(t, outside)
		}},
		{name: "directory missing here", want: "no such file or directory", req: func(t *testing.T) rpc.FSCheck {
			req := marker(t, allowed)
			req.Path = filepath.Join(allowed, "missing")
			return req
		}},
		{name: "another directory", want: "it is another directory", req: func(t *testing.T) rpc.FSCheck {
			req := marker(t, allowed)
			req.Path = mkdir(t, filepath.Join(allowed, "other"))
			return req
		}},
		{name: "other content", want: "holds other content", req: func(t *testing.T) rpc.FSCheck {
			req := marker(t, allowed)
			req.Content = append([]byte{}, req.Content...)
			req.Content[0] ^= 0xff
			return req
		}},
		{name: "longer content", want: "holds other content", req: func(t *testing.T) rpc.FSCheck {
			req := marker(t, allowed)
			req.Content = req.Content[:len(req.Content)-1]
			return req
		}},
		{name: "marker is a symlink", want: "not a regular file", req: func(t *testing.T) rpc.FSCheck {
			real := marker(t, allowed)
			req := marker(t, allowed)
			if err := os.Remove(markerFile(req)); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(markerFile(real), markerFile(req)); err != nil {
				t.Fatal(err)
			}
			req.Content = real.Content
			return req
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.answerFSCheck(ctxFor(t, 5*time.Second), tt.req(t))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("answerFSCheck = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("answerFSCheck = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestWithContextStopsWaiting(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := withContext(ctx, func() error { <-block; return nil })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "hung mount") {
		t.Fatalf("withContext = %v, want a deadline error naming a hung mount", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("withContext returned after %s, want about 50ms", d)
	}
}
