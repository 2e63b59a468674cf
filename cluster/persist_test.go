package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/stratagw/strata/fsm"
)

// writeObjects applies n PutObject commands (keys key-00000 … with some
// overwrites and deletes) from conc goroutines and returns the last index.
func writeObjects(t testing.TB, tn *testNode, bucket string, n, conc int) uint64 {
	t.Helper()
	var (
		next    atomic.Int64
		lastIdx atomic.Uint64
		wg      sync.WaitGroup
		errOnce sync.Once
		firstEr error
	)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				key := fmt.Sprintf("key-%05d", i%(n*7/10+1))
				var (
					res fsm.Result
					err error
				)
				if i%10 == 9 {
					res, err = tn.Apply(context.Background(), fsm.CmdDeleteObject, fsm.DeleteObject{Bucket: bucket, Key: key})
				} else {
					res, err = tn.Apply(context.Background(), fsm.CmdPutObject, fsm.PutObject{Object: objectRecord(bucket, key, i)})
				}
				if err != nil {
					errOnce.Do(func() { firstEr = fmt.Errorf("write %d: %w", i, err) })
					return
				}
				for {
					old := lastIdx.Load()
					if res.Index <= old || lastIdx.CompareAndSwap(old, res.Index) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	if firstEr != nil {
		t.Fatal(firstEr)
	}
	return lastIdx.Load()
}

// waitReady waits until the node leads and has applied what it knows to
// be committed.
func waitReady(t testing.TB, tn *testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tn.WaitForLeader(ctx); err != nil {
		t.Fatalf("WaitForLeader: %v", err)
	}
	waitFor(t, 10*time.Second, "ready", tn.Ready)
}

// TestRestartAfterManyWrites writes 10,000 commands, restarts the node on
// the same directory and checks that nothing was applied twice: the
// applied index and every record are unchanged, and a command that failed
// before its bucket existed did not succeed on replay.
func TestRestartAfterManyWrites(t *testing.T) {
	dir := t.TempDir()
	tn := startNode(t, dir)
	seed(t, tn, "b")
	// Applied again after the bucket exists, this write would succeed.
	ghost := fsm.PutObject{Object: objectRecord("late", "ghost", 1)}
	res, err := tn.Apply(context.Background(), fsm.CmdPutObject, ghost)
	wantFSMError(t, res, err, fsm.CodeNoSuchBucket)
	tn.mustApply(t, fsm.CmdCreateBucket, fsm.CreateBucket{Bucket: bucketRecord("late")})

	start := time.Now()
	last := writeObjects(t, tn, "b", 10000, 32)
	t.Logf("10,000 writes at concurrency 32 in %v", time.Since(start))
	applied := tn.fsm.AppliedIndex()
	if applied < last {
		t.Fatalf("applied index %d below the last acknowledged index %d", applied, last)
	}
	before := dump(t, tn.fsm)
	tn.close()

	tn2 := openNode(t, dir)
	// Raft has not replayed anything yet: the state file alone holds it all.
	if got := tn2.fsm.AppliedIndex(); got != applied {
		t.Fatalf("applied index after reopen = %d, want %d", got, applied)
	}
	if err := tn2.Bootstrap(context.Background()); err != nil {
		t.Fatalf("Bootstrap on existing state: %v", err)
	}
	waitReady(t, tn2)
	if got := tn2.fsm.AppliedIndex(); got != applied {
		t.Fatalf("applied index after replay = %d, want %d", got, applied)
	}
	if after := dump(t, tn2.fsm); after != before {
		t.Fatalf("state changed across restart:\nbefore:\n%.2000s\nafter:\n%.2000s", before, after)
	}
	if _, ok, _ := tn2.fsm.Object("late", "ghost"); ok {
		t.Fatal("a failed command was re-applied on restart")
	}
	res = tn2.mustApply(t, fsm.CmdPutObject, fsm.PutObject{Object: objectRecord("b", "new", 1)})
	if res.Index <= applied {
		t.Fatalf("new write at index %d, not after %d", res.Index, applied)
	}
	if _, ok, _ := tn2.fsm.Object("b", "new"); !ok {
		t.Fatal("new write not visible")
	}
}

// TestSnapshotCompactionRestart takes snapshots, checks that the log was
// compacted and that only two snapshots are kept, and restarts: the state
// file (newer than the snapshot) is kept as is — raft must not restore the
// older snapshot over it — and nothing is lost.
func TestSnapshotCompactionRestart(t *testing.T) {
	dir := t.TempDir()
	small := func(c *Config) {
		c.SnapshotThreshold = 100
		c.TrailingLogs = 20
		c.SnapshotInterval = time.Hour // only the user snapshots below
	}
	tn := startNode(t, dir, small)
	seed(t, tn, "b")
	ctx := context.Background()
	for round := range 3 {
		writeObjects(t, tn, "b", 300, 8)
		if err := tn.Snapshot(ctx); err != nil {
			t.Fatalf("Snapshot %d: %v", round, err)
		}
	}
	if err := tn.Snapshot(ctx); err != nil {
		t.Fatalf("Snapshot with nothing new: %v", err)
	}
	writeObjects(t, tn, "b", 200, 8) // after the last snapshot
	applied := tn.fsm.AppliedIndex()
	before := dump(t, tn.fsm)
	tn.close()

	snaps, err := os.ReadDir(filepath.Join(dir, "raft", "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots kept, want 2", len(snaps))
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft", "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	first, err := store.FirstIndex()
	_ = store.Close()
	if err != nil {
		t.Fatal(err)
	}
	if first <= 1 || first > applied {
		t.Fatalf("first log index after compaction = %d, want in (1, %d]", first, applied)
	}

	tn2 := openNode(t, dir, small)
	if got := tn2.fsm.AppliedIndex(); got != applied {
		t.Fatalf("applied index right after reopen = %d, want %d (a snapshot restore would move it back)", got, applied)
	}
	waitReady(t, tn2)
	if got := tn2.fsm.AppliedIndex(); got != applied {
		t.Fatalf("applied index after replay = %d, want %d", got, applied)
	}
	if after := dump(t, tn2.fsm); after != before {
		t.Fatal("state changed across snapshot + restart")
	}
	if res := tn2.mustApply(t, fsm.CmdPutObject, fsm.PutObject{Object: objectRecord("b", "new", 1)}); res.Index <= applied {
		t.Fatalf("new write at index %d, not after %d", res.Index, applied)
	}
}

// TestRestoreIntoFreshNode builds node A, then starts fresh nodes from A's
// raft directory (snapshot + log, or the snapshot alone) with an empty
// state file: the node restores the snapshot into it, replays the rest of
// the log, and ends with A's state.
func TestRestoreIntoFreshNode(t *testing.T) {
	a := t.TempDir()
	tn := startNode(t, a)
	seed(t, tn, "b")
	writeObjects(t, tn, "b", 500, 8)
	atSnapshot := dump(t, tn.fsm)
	if err := tn.Snapshot(context.Background()); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	writeObjects(t, tn, "b", 100, 4)
	tn.mustApply(t, fsm.CmdCreateBucket, fsm.CreateBucket{Bucket: bucketRecord("after")})
	final := dump(t, tn.fsm)
	finalIndex := tn.fsm.AppliedIndex()
	tn.close()

	cases := []struct {
		name string
		copy string // part of A's raft directory given to the fresh node
		want string
	}{
		{"snapshot and log", "raft", final},
		{"snapshot only", filepath.Join("raft", "snapshots"), atSnapshot},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := t.TempDir()
			if err := copyDir(filepath.Join(a, c.copy), filepath.Join(b, c.copy)); err != nil {
				t.Fatal(err)
			}
			fresh := openNode(t, b)
			if err := fresh.Bootstrap(context.Background()); err != nil {
				t.Fatalf("Bootstrap: %v", err)
			}
			waitReady(t, fresh)
			if err := fresh.ReadBarrier(context.Background()); err != nil {
				t.Fatalf("ReadBarrier: %v", err)
			}
			if got := dump(t, fresh.fsm); got != c.want {
				t.Fatalf("restored state differs:\ngot:\n%.1500s\nwant:\n%.1500s", got, c.want)
			}
			if c.copy == "raft" && fresh.fsm.AppliedIndex() != finalIndex {
				t.Fatalf("applied index %d, want %d", fresh.fsm.AppliedIndex(), finalIndex)
			}
			fresh.mustApply(t, fsm.CmdCreateBucket, fsm.CreateBucket{Bucket: bucketRecord("post-restore")})
			if _, ok, _ := fresh.fsm.Bucket("post-restore"); !ok {
				t.Fatal("write after restore not visible")
			}
		})
	}
}

// copyDir copies a directory tree of regular files.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	_, err = io.Copy(out, in)
	return err
}
