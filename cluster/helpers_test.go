package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stratagw/strata/fsm"
)

// testLogger keeps raft's chatter (peers going away is the point of some
// tests) out of test output; STRATA_TEST_LOG=1 shows it.
func testLogger() *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testNode is a real node on loopback with its FSM, both closed on cleanup.
type testNode struct {
	*Node
	fsm *fsm.FSM
	dir string
}

// fastConfig is a node config with short raft timeouts for tests.
func fastConfig(dir string, f *fsm.FSM) Config {
	return Config{
		NodeID:             "node-1",
		DataDir:            dir,
		BindAddr:           "127.0.0.1:0",
		FSM:                f,
		Logger:             testLogger(),
		HeartbeatTimeout:   100 * time.Millisecond,
		ElectionTimeout:    100 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		ApplyTimeout:       10 * time.Second,
	}
}

// openNode opens the FSM and the node in dir without bootstrapping.
func openNode(t testing.TB, dir string, mods ...func(*Config)) *testNode {
	t.Helper()
	f, err := fsm.Open(filepath.Join(dir, "state.db"), testLogger())
	if err != nil {
		t.Fatalf("fsm.Open: %v", err)
	}
	cfg := fastConfig(dir, f)
	for _, m := range mods {
		m(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		_ = f.Close()
		t.Fatalf("New: %v", err)
	}
	tn := &testNode{Node: n, fsm: f, dir: dir}
	t.Cleanup(tn.close)
	if err := n.Open(context.Background()); err != nil {
		t.Fatalf("Open: %v", err)
	}
	return tn
}

// startNode opens, bootstraps and waits until the node leads.
func startNode(t testing.TB, dir string, mods ...func(*Config)) *testNode {
	t.Helper()
	tn := openNode(t, dir, mods...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tn.Bootstrap(ctx); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	waitFor(t, 10*time.Second, "leadership", tn.IsLeader)
	return tn
}

// close shuts the node down, then its FSM (both idempotent).
func (tn *testNode) close() {
	_ = tn.Node.Close()
	_ = tn.fsm.Close()
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mustApply applies a command that must succeed.
func (tn *testNode) mustApply(t testing.TB, ct fsm.CommandType, body any) fsm.Result {
	t.Helper()
	res, err := tn.Apply(context.Background(), ct, body)
	if err != nil {
		t.Fatalf("Apply(%s): %v", ct, err)
	}
	return res
}

var epoch = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// seed initialises the cluster with one fs backend, its region "local" and
// a bucket.
func seed(t testing.TB, tn *testNode, bucket string) {
	t.Helper()
	tn.mustApply(t, fsm.CmdInitCluster, fsm.InitCluster{
		Config: fsm.ClusterConfig{ClusterID: "c-1", CreatedAt: epoch},
		Admin:  fsm.Credential{AccessKey: "ADMIN", SecretSealed: []byte("sealed"), CreatedAt: epoch},
	})
	tn.mustApply(t, fsm.CmdPutBackend, fsm.PutBackend{
		Backend: fsm.Backend{ID: "be-000000000001", Name: "local", Type: "fs", Path: "/srv", CreatedAt: epoch},
		Regions: []fsm.Region{{Name: "local", Backings: []fsm.BackingRegion{{BackendID: "be-000000000001", Region: "local"}}}},
	})
	tn.mustApply(t, fsm.CmdCreateBucket, fsm.CreateBucket{Bucket: bucketRecord(bucket)})
}

func bucketRecord(name string) fsm.Bucket {
	return fsm.Bucket{
		Name: name, Region: "local", Owner: "ADMIN", CreatedAt: epoch,
		Backings: []fsm.BackingBucket{{BackendID: "be-000000000001", Region: "local", Name: name + "-0001"}},
	}
}

// objectRecord is an object record whose fields all derive from i.
func objectRecord(bucket, key string, i int) fsm.Object {
	return fsm.Object{
		Bucket: bucket, Key: key, Size: int64(i), ETag: fmt.Sprintf("%032x", i),
		Meta:     fsm.ObjectMeta{ContentType: "text/plain", UserMeta: map[string]string{"n": fmt.Sprint(i)}},
		Owner:    "ADMIN",
		ModTime:  epoch.Add(time.Duration(i) * time.Millisecond),
		Replicas: []fsm.Replica{{BackendID: "be-000000000001", Bucket: bucket + "-0001", Key: key, ETag: fmt.Sprintf("%032x", i)}},
	}
}

// dump renders the whole state through fsm.Reader, for equality checks.
func dump(t testing.TB, r fsm.Reader) string {
	t.Helper()
	var b strings.Builder
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("dump: %v", err)
		}
	}
	cfg, ok, err := r.Config()
	must(err)
	fmt.Fprintf(&b, "config %v %+v\n", ok, cfg)
	bes, err := r.Backends()
	must(err)
	fmt.Fprintf(&b, "backends %+v\n", bes)
	regions, err := r.Regions()
	must(err)
	fmt.Fprintf(&b, "regions %+v\n", regions)
	buckets, err := r.Buckets()
	must(err)
	for _, bk := range buckets {
		fmt.Fprintf(&b, "bucket %+v\n", bk)
		after := ""
		for {
			page, err := r.ListObjects(bk.Name, fsm.ListOptions{After: after})
			must(err)
			for _, o := range page.Objects {
				fmt.Fprintf(&b, "  object %+v\n", o)
			}
			if !page.Truncated {
				break
			}
			after = page.NextAfter
		}
		ups, err := r.ListUploads(bk.Name, fsm.ListUploadsOptions{})
		must(err)
		for _, u := range ups.Uploads {
			parts, _, err := r.Parts(u.ID, 0, 0)
			must(err)
			fmt.Fprintf(&b, "  upload %+v parts %+v\n", u, parts)
		}
	}
	return b.String()
}

// wantFSMError checks that err is the deterministic *fsm.Error with code,
// and that the Result carries the same error.
func wantFSMError(t testing.TB, res fsm.Result, err error, code string) {
	t.Helper()
	var fe *fsm.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v (%T), want *fsm.Error %s", err, err, code)
	}
	if fe.Code != code {
		t.Fatalf("error code = %s (%v), want %s", fe.Code, fe, code)
	}
	if res.Err == nil || !reflect.DeepEqual(res.Err, fe) {
		t.Fatalf("Result.Err = %v, want the returned error %v", res.Err, fe)
	}
}
