package replication_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/backend/pool"
	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/internal/sealbox"
	"github.com/stratagw/strata/replication"
)

const (
	backendID = "be-000000000001"
	bucket    = "photos"
	backing   = "photos-0001"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// env is a real single-node cluster (bbolt FSM + raft) with one fs
// backend and one bucket on it.
type env struct {
	fsm   *fsm.FSM
	node  *cluster.Node
	pool  *pool.Pool
	box   *sealbox.Box
	be    backend.Backend
	fsDir string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	f, err := fsm.Open(filepath.Join(dir, "state.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	node, err := cluster.New(cluster.Config{
		NodeID: "n1", DataDir: dir, BindAddr: "127.0.0.1:0", FSM: f, Logger: logger,
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := node.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := node.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	if err := node.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for !node.IsLeader() {
		if ctx.Err() != nil {
			t.Fatal("node did not become leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	key := make([]byte, sealbox.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	box, err := sealbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{fsm: f, node: node, pool: pool.New(f, box, pool.Options{}), box: box, fsDir: filepath.Join(dir, "fs")}
	t.Cleanup(e.pool.Close)
	if err := os.MkdirAll(e.fsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.apply(t, fsm.CmdInitCluster, fsm.InitCluster{Config: fsm.ClusterConfig{ClusterID: "c1", CreatedAt: now},
		Admin: fsm.Credential{AccessKey: "ADMIN", SecretSealed: []byte("x"), Admin: true, CreatedAt: now}})
	e.apply(t, fsm.CmdPutBackend, fsm.PutBackend{
		Backend: fsm.Backend{ID: backendID, Name: "local", Type: "fs", Path: e.fsDir, CreatedAt: now},
		Regions: []fsm.Region{{Name: "local", Backings: []fsm.BackingRegion{{BackendID: backendID, Region: "local"}}}},
	})
	e.apply(t, fsm.CmdCreateBucket, fsm.CreateBucket{Bucket: fsm.Bucket{Name: bucket, Region: "local", Owner: "ADMIN", CreatedAt: now,
		Backings: []fsm.BackingBucket{{BackendID: backendID, Region: "local", Name: backing}}}})
	if e.be, err = e.pool.Get(ctx, backendID); err != nil {
		t.Fatal(err)
	}
	if err := e.be.CreateBucket(ctx, "local", backing); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) apply(t *testing.T, ct fsm.CommandType, body any) {
	t.Helper()
	if _, err := e.node.Apply(context.Background(), ct, body); err != nil {
		t.Fatalf("apply %s: %v", ct, err)
	}
}

// upload starts a native upload with one part and records it as initiated
// at the given time.
func (e *env) upload(t *testing.T, id, key string, initiated time.Time) fsm.Upload {
	t.Helper()
	ctx := context.Background()
	bid, err := e.be.CreateMultipart(ctx, backing, key, backend.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("part of " + key)
	etag, err := e.be.UploadPart(ctx, backing, key, bid, 1, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	u := fsm.Upload{ID: id, Bucket: bucket, Key: key, Owner: "ADMIN", Initiated: initiated,
		Backing: fsm.BackingBucket{BackendID: backendID, Region: "local", Name: backing}, BackingKey: key, BackendUploadID: bid}
	e.apply(t, fsm.CmdCreateUpload, fsm.CreateUpload{Upload: u})
	e.apply(t, fsm.CmdPutPart, fsm.PutPart{Part: fsm.Part{UploadID: id, Number: 1, Size: int64(len(data)), ETag: etag, BackendETag: etag, ModTime: initiated}})
	return u
}

// staged counts the fs backend's native uploads in progress.
func (e *env) staged(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.fsDir, ".strata", "multipart"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func (e *env) hasUpload(t *testing.T, id string) bool {
	t.Helper()
	_, ok, err := e.fsm.Upload(id)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestSweepAbortsOnlyExpiredUploads(t *testing.T) {
	e := newEnv(t)
	old := e.upload(t, "old", "a", now.Add(-48*time.Hour))
	gone := e.upload(t, "gone", "b", now.Add(-25*time.Hour))
	e.upload(t, "fresh", "c", now.Add(-time.Hour))
	// The backend already lost "gone" (aborted by hand, say): the reaper
	// must still drop its record.
	if err := e.be.AbortMultipart(context.Background(), backing, gone.BackingKey, gone.BackendUploadID); err != nil {
		t.Fatal(err)
	}
	if n := e.staged(t); n != 2 {
		t.Fatalf("%d staged uploads before the sweep, want 2", n)
	}
	r := replication.NewUploadReaper(e.fsm, e.node, e.pool,
		replication.UploadReaperOptions{Expiry: 24 * time.Hour, Now: func() time.Time { return now }}, nil)
	n, err := r.Sweep(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want 2 aborted", n, err)
	}
	for id, want := range map[string]bool{old.ID: false, gone.ID: false, "fresh": true} {
		if got := e.hasUpload(t, id); got != want {
			t.Errorf("upload %s present = %v, want %v", id, got, want)
		}
	}
	parts, _, err := e.fsm.Parts("fresh", 0, 0)
	if err != nil || len(parts) != 1 {
		t.Errorf("parts of the fresh upload: %v, %v", parts, err)
	}
	if n := e.staged(t); n != 1 {
		t.Errorf("%d staged uploads after the sweep, want only the fresh one", n)
	}
	// Nothing more to do: a second pass aborts nothing.
	if n, err := r.Sweep(context.Background()); n != 0 || err != nil {
		t.Errorf("second Sweep = %d, %v", n, err)
	}
}

func TestRunAbortsUploadsOnTheLeader(t *testing.T) {
	e := newEnv(t)
	clock := now
	r := replication.NewUploadReaper(e.fsm, e.node, e.pool, replication.UploadReaperOptions{
		Expiry: time.Hour, Interval: 20 * time.Millisecond, Now: func() time.Time { return clock },
	}, nil)
	for i := 0; i < 3; i++ {
		e.upload(t, fmt.Sprintf("u%d", i), fmt.Sprintf("k%d", i), now.Add(-2*time.Hour))
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		r.Run(ctx)
		close(stopped)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for e.staged(t) != 0 || e.hasUpload(t, "u0") || e.hasUpload(t, "u1") || e.hasUpload(t, "u2") {
		if time.Now().After(deadline) {
			t.Fatalf("Run did not abort the expired uploads (staged %d)", e.staged(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}
