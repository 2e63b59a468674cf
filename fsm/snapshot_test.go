package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"
)

// snapshotStore is raft's real file snapshot store in a temporary directory.
func snapshotStore(t testing.TB) *raft.FileSnapshotStore {
	t.Helper()
	store, err := raft.NewFileSnapshotStoreWithLogger(t.TempDir(), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// persist takes a snapshot of f into store and returns its id.
func persist(t testing.TB, f *FSM, store *raft.FileSnapshotStore) string {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	defer snap.Release()
	return persistSnap(t, snap, f.AppliedIndex(), store)
}

func persistSnap(t testing.TB, snap raft.FSMSnapshot, index uint64, store *raft.FileSnapshotStore) string {
	t.Helper()
	sink, err := store.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	return sink.ID()
}

// restore restores snapshot id of store into f.
func restore(t testing.TB, f *FSM, store *raft.FileSnapshotStore, id string) {
	t.Helper()
	_, rc, err := store.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Restore(rc); err != nil {
		t.Fatalf("Restore: %v", err)
	}
}

// richState applies one of everything.
func richState(t testing.TB) *testFSM {
	t.Helper()
	f := withBucket(t)
	f.mustApply(CmdSetDefaultRegion, SetDefaultRegion{Region: region})
	f.mustApply(CmdPutBackend, putBackend("be-2", "other", "r2"))
	for i := 0; i < 100; i++ {
		f.mustApply(CmdPutObject, PutObject{Object: object("b1", fmt.Sprintf("dir%d/k%03d", i%3, i), int64(i))})
	}
	f.mustApply(CmdCreateUpload, CreateUpload{Upload: upload("u1", "b1", "big", t0)})
	f.mustApply(CmdPutPart, PutPart{Part: Part{UploadID: "u1", Number: 1, Size: 5}})
	return f
}

func TestSnapshotRestoreIntoFreshFSM(t *testing.T) {
	src := richState(t)
	store := snapshotStore(t)
	id := persist(t, src.FSM, store)

	dst := newTestFSM(t)
	restore(t, dst.FSM, store, id)
	if dst.AppliedIndex() != src.AppliedIndex() {
		t.Fatalf("AppliedIndex = %d, want %d", dst.AppliedIndex(), src.AppliedIndex())
	}
	if dumpState(t, dst.FSM) != dumpState(t, src.FSM) {
		t.Fatal("restored state differs")
	}
	a, _ := src.ListObjects("b1", ListOptions{Delimiter: "/"})
	b, _ := dst.ListObjects("b1", ListOptions{Delimiter: "/"})
	if strings.Join(a.CommonPrefixes, ",") != "dir0/,dir1/,dir2/" || strings.Join(b.CommonPrefixes, ",") != strings.Join(a.CommonPrefixes, ",") {
		t.Fatalf("listings differ: %v vs %v", a.CommonPrefixes, b.CommonPrefixes)
	}
	if parts, _, err := dst.Parts("u1", 0, 0); err != nil || len(parts) != 1 {
		t.Fatalf("Parts after restore = %v, %v", parts, err)
	}
	// The log continues where the snapshot ended: older entries are skipped.
	old := entry(t, src.AppliedIndex(), CmdCreateBucket, createBucket("zzz", region, backendID))
	if res := dst.Apply(old).(Result); res.Err != nil {
		t.Fatal(res.Err)
	}
	if _, ok, _ := dst.Bucket("zzz"); ok {
		t.Fatal("an entry covered by the snapshot was applied")
	}
	next := entry(t, src.AppliedIndex()+1, CmdDeleteObject, DeleteObject{Bucket: "b1", Key: "dir0/k000"})
	if res := dst.Apply(next).(Result); res.Err != nil || res.Previous == nil {
		t.Fatalf("entry after the snapshot: %+v", res)
	}
}

func TestRestoreReplacesExistingState(t *testing.T) {
	src := richState(t)
	store := snapshotStore(t)
	id := persist(t, src.FSM, store)

	path := filepath.Join(t.TempDir(), "state.db")
	dst := openTestFSM(t, path)
	dst.mustApply(CmdInitCluster, initCluster())
	dst.mustApply(CmdPutBackend, putBackend("be-x", "elsewhere", "rx"))
	for i := 0; i < 500; i++ {
		dst.mustApply(CmdPutBackend, putBackend(fmt.Sprintf("be-%d", i), fmt.Sprintf("n%d", i), fmt.Sprintf("r%d", i)))
	}
	restore(t, dst.FSM, store, id)
	if _, ok, _ := dst.BackendByName("elsewhere"); ok {
		t.Fatal("old state survived the restore")
	}
	if dumpState(t, dst.FSM) != dumpState(t, src.FSM) || dst.AppliedIndex() != src.AppliedIndex() {
		t.Fatal("restored state differs")
	}
	// The restored file is the one on disk: it survives a reopen, and no
	// temporary files are left behind.
	want := dumpState(t, dst.FSM)
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	again := openTestFSM(t, path)
	if dumpState(t, again.FSM) != want || again.AppliedIndex() != src.AppliedIndex() {
		t.Fatal("restored state did not survive a reopen")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("files beside the state: %v", entries)
	}
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	f := richState(t)
	before := dumpState(t, f.FSM)
	for name, data := range map[string][]byte{
		"empty":   nil,
		"garbage": bytes.Repeat([]byte("not a bbolt file "), 1000),
		"short":   []byte("x"),
	} {
		t.Run(name, func(t *testing.T) {
			if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err == nil {
				t.Fatal("Restore accepted a bad snapshot")
			}
			if dumpState(t, f.FSM) != before {
				t.Fatal("a failed restore changed the state")
			}
			entries, _ := os.ReadDir(filepath.Dir(f.Path()))
			if len(entries) != 1 {
				t.Fatalf("files left beside the state: %v", entries)
			}
		})
	}
	f.mustApply(CmdPutObject, PutObject{Object: object("b1", "still-works", 1)})
}

// TestSnapshotIsPointInTime persists after further writes and after a
// Restore replaced the file under the open snapshot.
func TestSnapshotIsPointInTime(t *testing.T) {
	src := richState(t)
	want := dumpState(t, src.FSM)
	index := src.AppliedIndex()
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	src.mustApply(CmdPutObject, PutObject{Object: object("b1", "later", 1)})
	// Replace the live file while the snapshot transaction is still open.
	store := snapshotStore(t)
	other := withBucket(t)
	restore(t, src.FSM, store, persist(t, other.FSM, store))

	id := persistSnap(t, snap, index, store)
	snap.Release()
	snap.Release() // raft may call it more than once
	dst := newTestFSM(t)
	restore(t, dst.FSM, store, id)
	if dumpState(t, dst.FSM) != want {
		t.Fatal("snapshot does not hold the state at the time it was taken")
	}
}

// TestReadersDuringRestore runs readers against an FSM that is restored
// over and over: no reader may see a closed file.
func TestReadersDuringRestore(t *testing.T) {
	f := richState(t)
	store := snapshotStore(t)
	id := persist(t, f.FSM, store)
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				lr, err := f.ListObjects("b1", ListOptions{MaxKeys: 10})
				if err == nil && len(lr.Objects) != 10 {
					err = fmt.Errorf("listed %d objects", len(lr.Objects))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		restore(t, f.FSM, store, id)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("reader during restore: %v", err)
	}
}

func TestSnapshotAfterClose(t *testing.T) {
	f := newTestFSM(t)
	_ = f.Close()
	if _, err := f.Snapshot(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Snapshot after Close: %v", err)
	}
}
