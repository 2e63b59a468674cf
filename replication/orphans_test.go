package replication_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/replication"
)

// clock is a settable Now for the cleaner: tests age backing objects by
// moving it forward instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// putBacking writes a backing object behind strata's back, as a PUT that
// never committed leaves it.
func putBacking(t *testing.T, be backend.Backend, bkt, key string) backend.ObjectInfo {
	t.Helper()
	info, err := be.PutObject(context.Background(), bkt, key, strings.NewReader("bytes of "+key), int64(len("bytes of "+key)), backend.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// backingKeys lists every key of a backing bucket.
func backingKeys(t *testing.T, be backend.Backend, bkt string) []string {
	t.Helper()
	objs, _, err := be.ListObjects(context.Background(), bkt, "", "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(objs))
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

func wantKeys(t *testing.T, be backend.Backend, bkt string, want ...string) {
	t.Helper()
	if got := strings.Join(backingKeys(t, be, bkt), " "); got != strings.Join(want, " ") {
		t.Fatalf("backing keys of %s = %q, want %q", bkt, got, strings.Join(want, " "))
	}
}

// record commits an object record for key in bucket whose replica ETag is
// not the backing object's (a write that lost its commit over it).
func (e *env) record(t *testing.T, key string) {
	t.Helper()
	e.apply(t, fsm.CmdPutObject, fsm.PutObject{Object: fsm.Object{Bucket: bucket, Key: key, Size: 1,
		ETag: "0cc175b9c0f1b6a831c399e269772661", Owner: "ADMIN", ModTime: now,
		Replicas: []fsm.Replica{{BackendID: backendID, Bucket: backing, Key: key, ETag: "0cc175b9c0f1b6a831c399e269772661"}}}})
}

func (e *env) cleaner(c *clock, opts replication.OrphanCleanerOptions) *replication.OrphanCleaner {
	opts.Grace = time.Hour
	opts.Now = c.Now
	return replication.NewOrphanCleaner(e.fsm, e.node, e.pool, opts, nil)
}

func sweep(t *testing.T, c *replication.OrphanCleaner, want int) {
	t.Helper()
	n, err := c.Sweep(context.Background())
	if err != nil || n != want {
		t.Fatalf("Sweep = %d, %v; want %d deleted", n, err, want)
	}
}

// TestSweepDeletesOnlyOrphans: of the backing objects, only the one with
// no record, no upload and older than Grace goes; a young orphan goes once
// it has aged.
func TestSweepDeletesOnlyOrphans(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	putBacking(t, e.be, backing, "orphan")
	putBacking(t, e.be, backing, "recorded")
	e.record(t, "recorded") // replica ETag differs: adopted on read, never an orphan
	putBacking(t, e.be, backing, "completing")
	// Native upload still open and its record too: the backing object is
	// what a CompleteMultipartUpload assembled before its commit.
	e.upload(t, "up1", "completing", now)
	putBacking(t, e.be, backing, "compl") // an upload of "completing" does not cover "compl"
	putBacking(t, e.be, backing, "dir/")  // folder marker
	c := e.cleaner(clk, replication.OrphanCleanerOptions{})

	// Everything was just written: too young to be an orphan.
	sweep(t, c, 0)
	wantKeys(t, e.be, backing, "compl", "completing", "dir/", "orphan", "recorded")

	clk.advance(2 * time.Hour)
	sweep(t, c, 3)
	wantKeys(t, e.be, backing, "completing", "recorded")
	if !e.hasUpload(t, "up1") || e.staged(t) != 1 {
		t.Errorf("the in-progress upload was touched")
	}
	if _, ok, _ := e.fsm.Object(bucket, "recorded"); !ok {
		t.Errorf("record of %q gone", "recorded")
	}
	// Nothing left to do.
	sweep(t, c, 0)

	// Once the upload is gone (aborted), its key's object is an orphan.
	e.apply(t, fsm.CmdAbortUpload, fsm.AbortUpload{UploadID: "up1"})
	sweep(t, c, 1)
	wantKeys(t, e.be, backing, "recorded")
}

// TestSweepKeepsStrataStateFiles: the fs backend keeps sidecars, temporary
// files and staged parts under <root>/.strata; its listing never shows
// them (nor a ".strata" directory put into a bucket by hand), so the
// cleaner cannot delete them.
func TestSweepKeepsStrataStateFiles(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	putBacking(t, e.be, backing, "orphan")
	e.upload(t, "up1", "staged", now)
	inBucket := filepath.Join(e.fsDir, backing, ".strata", "x")
	if err := os.MkdirAll(filepath.Dir(inBucket), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inBucket, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, e.be, backing, "orphan")
	clk.advance(2 * time.Hour)
	sweep(t, e.cleaner(clk, replication.OrphanCleanerOptions{}), 1)
	wantKeys(t, e.be, backing)
	if e.staged(t) != 1 {
		t.Errorf("staged upload removed")
	}
	if _, err := os.Stat(inBucket); err != nil {
		t.Errorf("file under the bucket's .strata: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.fsDir, ".strata", "meta")); err != nil {
		t.Errorf(".strata/meta: %v", err)
	}
}

// TestSweepSkipsImportedBuckets: an imported bucket's backing objects are
// foreign objects, indexed but never deleted, even without records.
func TestSweepSkipsImportedBuckets(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	const importedBacking = "legacy-data"
	if err := e.be.CreateBucket(context.Background(), "local", importedBacking); err != nil {
		t.Fatal(err)
	}
	e.apply(t, fsm.CmdCreateBucket, fsm.CreateBucket{Bucket: fsm.Bucket{Name: "legacy", Region: "local", Owner: "ADMIN",
		CreatedAt: now, Imported: true, Backings: []fsm.BackingBucket{{BackendID: backendID, Region: "local", Name: importedBacking}}}})
	putBacking(t, e.be, importedBacking, "foreign-1")
	putBacking(t, e.be, importedBacking, "foreign-2")
	putBacking(t, e.be, backing, "orphan")
	clk.advance(48 * time.Hour)
	sweep(t, e.cleaner(clk, replication.OrphanCleanerOptions{}), 1)
	wantKeys(t, e.be, importedBacking, "foreign-1", "foreign-2")
	wantKeys(t, e.be, backing)
}

// pageCounter wraps the pool and records the size of every listing page.
type pageCounter struct {
	replication.Backends
	mu    sync.Mutex
	pages []int
}

func (p *pageCounter) Get(ctx context.Context, id string) (backend.Backend, error) {
	be, err := p.Backends.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return countingBackend{Backend: be, p: p}, nil
}

type countingBackend struct {
	backend.Backend
	p *pageCounter
}

func (b countingBackend) ListObjects(ctx context.Context, bkt, prefix, after string, max int) ([]backend.ObjectInfo, bool, error) {
	objs, truncated, err := b.Backend.ListObjects(ctx, bkt, prefix, after, max)
	b.p.mu.Lock()
	b.p.pages = append(b.p.pages, len(objs))
	b.p.mu.Unlock()
	return objs, truncated, err
}

// TestSweepPaginates: a bucket is listed PageSize objects at a time, never
// as a whole, and every page is cleaned.
func TestSweepPaginates(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	for i := 0; i < 5; i++ {
		putBacking(t, e.be, backing, fmt.Sprintf("k%d", i))
	}
	e.record(t, "k2")
	clk.advance(2 * time.Hour)
	pc := &pageCounter{Backends: e.pool}
	c := replication.NewOrphanCleaner(e.fsm, e.node, pc,
		replication.OrphanCleanerOptions{Grace: time.Hour, PageSize: 2, Now: clk.Now}, nil)
	sweep(t, c, 4)
	wantKeys(t, e.be, backing, "k2")
	if got := fmt.Sprint(pc.pages); got != "[2 2 1]" {
		t.Errorf("page sizes = %s, want [2 2 1]", got)
	}
}

// follower is the real node seen as a follower.
type follower struct{ replication.Cluster }

func (follower) IsLeader() bool { return false }

// TestRunCleansOnTheLeaderOnly: Run deletes orphans on the leader, does
// nothing on a follower, and returns when its context is cancelled.
func TestRunCleansOnTheLeaderOnly(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	putBacking(t, e.be, backing, "orphan")
	clk.advance(2 * time.Hour)
	opts := replication.OrphanCleanerOptions{Grace: time.Hour, Interval: 10 * time.Millisecond, Now: clk.Now}

	onFollower := replication.NewOrphanCleaner(e.fsm, follower{e.node}, e.pool, opts, nil)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := runInBackground(ctx, onFollower.Run)
	time.Sleep(300 * time.Millisecond)
	cancel()
	waitStopped(t, stopped)
	wantKeys(t, e.be, backing, "orphan")

	onLeader := replication.NewOrphanCleaner(e.fsm, e.node, e.pool, opts, nil)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	stopped = runInBackground(ctx, onLeader.Run)
	deadline := time.Now().Add(10 * time.Second)
	for len(backingKeys(t, e.be, backing)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not delete the orphan on the leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	waitStopped(t, stopped)
}

func runInBackground(ctx context.Context, run func(context.Context)) <-chan struct{} {
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		run(ctx)
	}()
	return stopped
}

func waitStopped(t *testing.T, stopped <-chan struct{}) {
	t.Helper()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

// TestSweepStopsOnCancel: a cancelled sweep returns the context's error.
func TestSweepStopsOnCancel(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	putBacking(t, e.be, backing, "orphan")
	clk.advance(2 * time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := e.cleaner(clk, replication.OrphanCleanerOptions{}).Sweep(ctx)
	if n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Sweep = %d, %v; want 0, context.Canceled", n, err)
	}
	wantKeys(t, e.be, backing, "orphan")
}
