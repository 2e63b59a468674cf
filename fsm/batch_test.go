package fsm

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestApplySameIndexTwiceAppliesOnce(t *testing.T) {
	f := withBucket(t)
	l := entry(t, f.next, CmdCreateBucket, createBucket("b2", region, backendID))
	f.next++
	if res := f.Apply(l).(Result); res.Err != nil {
		t.Fatalf("first apply: %v", res.Err)
	}
	before := dumpState(t, f.FSM)
	// Re-applying would fail with BucketExists; a skipped entry succeeds.
	for _, again := range []*raft.Log{l, entry(t, l.Index-1, CmdCreateBucket, createBucket("b3", region, backendID))} {
		res, ok := f.Apply(again).(Result)
		if !ok || res.Err != nil || res.Index != again.Index || res.Previous != nil {
			t.Fatalf("re-apply of %d = %+v, want a bare Result{Index}", again.Index, res)
		}
	}
	if dumpState(t, f.FSM) != before || f.AppliedIndex() != l.Index {
		t.Fatal("re-applied entries changed the state")
	}
	if _, ok, _ := f.Bucket("b3"); ok {
		t.Fatal("an entry below the applied index was applied")
	}
}

func TestApplyBatchFailingEntriesDoNotRollBackOthers(t *testing.T) {
	f := withBucket(t)
	base := f.next
	logs := []*raft.Log{
		entry(t, base, CmdPutObject, PutObject{Object: object("b1", "k1", 1)}),
		entry(t, base+1, CmdPutObject, PutObject{Object: object("nope", "x", 1)}),
		entry(t, base+2, CmdCreateBucket, createBucket("b1", region, backendID)),
		entry(t, base+3, CmdPutObject, PutObject{Object: object("b1", "k2", 2)}),
		{Index: base + 4, Term: 1, Type: raft.LogConfiguration, Data: []byte{1}},
		entry(t, base+5, CmdPutObject, PutObject{Object: object("b1", "k1", 3)}),
	}
	out := f.ApplyBatch(logs)
	if len(out) != len(logs) {
		t.Fatalf("%d responses for %d entries", len(out), len(logs))
	}
	wantCodes := []string{"", CodeNoSuchBucket, CodeBucketExists, "", "-", ""}
	for i, want := range wantCodes {
		if want == "-" {
			if out[i] != nil {
				t.Fatalf("response %d to a configuration entry = %v, want nil", i, out[i])
			}
			continue
		}
		res, ok := out[i].(Result)
		if !ok {
			t.Fatalf("response %d is %T", i, out[i])
		}
		if res.Index != logs[i].Index {
			t.Fatalf("response %d has index %d", i, res.Index)
		}
		wantCode(t, res, want)
	}
	if prev := out[5].(Result).Previous; prev == nil || prev.Size != 1 {
		t.Fatalf("Previous of the overwrite in the same batch = %+v, want the size-1 record", prev)
	}
	for key, size := range map[string]int64{"k1": 3, "k2": 2} {
		if o, ok, err := f.Object("b1", key); err != nil || !ok || o.Size != size {
			t.Fatalf("Object(%s) = %+v, %v, %v", key, o, ok, err)
		}
	}
	if got := f.AppliedIndex(); got != base+5 {
		t.Fatalf("AppliedIndex = %d, want %d", got, base+5)
	}
}

func TestApplyBatchOverlappingAppliedIndex(t *testing.T) {
	f := withBucket(t)
	applied := f.AppliedIndex()
	logs := []*raft.Log{
		entry(t, applied-1, CmdCreateBucket, createBucket("old", region, backendID)),
		entry(t, applied, CmdCreateBucket, createBucket("old2", region, backendID)),
		entry(t, applied+1, CmdCreateBucket, createBucket("new", region, backendID)),
	}
	out := f.ApplyBatch(logs)
	for i, r := range out {
		if res := r.(Result); res.Err != nil || res.Index != logs[i].Index {
			t.Fatalf("response %d = %+v", i, res)
		}
	}
	names := bucketNames(t, f)
	if names != "b1,new" {
		t.Fatalf("buckets = %s, want b1,new", names)
	}
}

func TestApplyBatchWithoutCommands(t *testing.T) {
	f := withBucket(t)
	applied := f.AppliedIndex()
	out := f.ApplyBatch([]*raft.Log{{Index: applied + 1, Type: raft.LogConfiguration}, {Index: applied + 2, Type: raft.LogNoop}})
	if out[0] != nil || out[1] != nil {
		t.Fatalf("responses = %v, want nils", out)
	}
	if f.AppliedIndex() != applied {
		t.Fatalf("AppliedIndex moved to %d", f.AppliedIndex())
	}
}

func bucketNames(t testing.TB, f *testFSM) string {
	t.Helper()
	buckets, err := f.Buckets()
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(buckets))
	for i, b := range buckets {
		names[i] = b.Name
	}
	return strings.Join(names, ",")
}

// TestRestartAfterManyWrites writes 10,000 objects in raft-sized batches,
// reopens the file and replays the whole log as raft would after a crash:
// nothing is applied twice.
func TestRestartAfterManyWrites(t *testing.T) {
	const n = 10000
	path := filepath.Join(t.TempDir(), "state.db")
	f := openTestFSM(t, path)
	f.mustApply(CmdInitCluster, initCluster())
	f.mustApply(CmdPutBackend, putBackend(backendID, "disk", region))
	f.mustApply(CmdCreateBucket, createBucket("b1", region, backendID))
	var logs []*raft.Log
	for i := 0; i < n; i++ {
		logs = append(logs, entry(t, f.next, CmdPutObject, PutObject{Object: object("b1", fmt.Sprintf("obj/%05d", i), int64(i))}))
		f.next++
	}
	applyInBatches(t, f.FSM, logs, 64)
	last := logs[n-1].Index
	if f.AppliedIndex() != last {
		t.Fatalf("AppliedIndex = %d, want %d", f.AppliedIndex(), last)
	}
	before := dumpState(t, f.FSM)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	g := openTestFSM(t, path)
	if g.AppliedIndex() != last {
		t.Fatalf("AppliedIndex after reopen = %d, want %d", g.AppliedIndex(), last)
	}
	for _, r := range applyInBatches(t, g.FSM, logs, 64) {
		if res := r.(Result); res.Previous != nil {
			t.Fatalf("entry %d was applied again (it returned a previous record)", res.Index)
		}
	}
	if dumpState(t, g.FSM) != before {
		t.Fatal("replaying the log changed the state")
	}
	lr, err := g.ListObjects("b1", ListOptions{MaxKeys: n + 1})
	if err != nil || len(lr.Objects) != n || lr.Truncated {
		t.Fatalf("ListObjects: %d objects, truncated %v, %v", len(lr.Objects), lr.Truncated, err)
	}
}

func applyInBatches(t testing.TB, f *FSM, logs []*raft.Log, size int) []any {
	t.Helper()
	var out []any
	for len(logs) > 0 {
		k := min(size, len(logs))
		for _, r := range f.ApplyBatch(logs[:k]) {
			if _, ok := r.(Result); !ok {
				t.Fatalf("ApplyBatch returned %T: %v", r, r)
			}
			out = append(out, r)
		}
		logs = logs[k:]
	}
	return out
}

// TestSameLogSameState applies one log to two FSMs, one entry at a time and
// in batches: the files hold the same records byte for byte.
func TestSameLogSameState(t *testing.T) {
	a, b := newTestFSM(t), newTestFSM(t)
	var logs []*raft.Log
	add := func(ct CommandType, body any) {
		logs = append(logs, entry(t, uint64(len(logs)+1), ct, body))
	}
	add(CmdInitCluster, initCluster())
	add(CmdPutBackend, putBackend(backendID, "disk", region))
	add(CmdCreateBucket, createBucket("b1", region, backendID))
	for i := 0; i < 50; i++ {
		add(CmdPutObject, PutObject{Object: object("b1", fmt.Sprintf("k%d", i%7), int64(i))})
		add(CmdCreateUpload, CreateUpload{Upload: upload(fmt.Sprintf("u%d", i), "b1", fmt.Sprintf("k%d", i%5), t0.Add(time.Duration(i)))})
		add(CmdPutPart, PutPart{Part: Part{UploadID: fmt.Sprintf("u%d", i/2), Number: 1 + i%3}})
		if i%4 == 0 {
			add(CmdAbortUpload, AbortUpload{UploadID: fmt.Sprintf("u%d", i/2)})
		}
	}
	for _, l := range logs {
		a.Apply(l)
	}
	applyInBatches(t, b.FSM, logs, 17)
	if dumpState(t, a.FSM) != dumpState(t, b.FSM) {
		t.Fatal("one-by-one and batched application disagree")
	}
}

// TestLocalFailureIsFatal breaks the state file under the FSM (it is closed
// behind its back, as a failing disk would make writes fail): the apply
// reports ErrFatal, later applies fail too, snapshots are refused, and after
// a reopen the failed entry is applied normally.
func TestLocalFailureIsFatal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	f := openTestFSM(t, path)
	f.mustApply(CmdInitCluster, initCluster())
	f.mustApply(CmdPutBackend, putBackend(backendID, "disk", region))
	applied := f.AppliedIndex()
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	l := entry(t, applied+1, CmdCreateBucket, createBucket("b1", region, backendID))
	for i := 0; i < 2; i++ {
		resp := f.Apply(l)
		err, ok := resp.(error)
		if !ok || !errors.Is(err, ErrFatal) {
			t.Fatalf("Apply on a broken file returned %T %v, want an ErrFatal error", resp, resp)
		}
	}
	if f.Fatal() == nil || f.AppliedIndex() != applied {
		t.Fatalf("Fatal() = %v, AppliedIndex = %d", f.Fatal(), f.AppliedIndex())
	}
	if _, err := f.Snapshot(); !errors.Is(err, ErrFatal) {
		t.Fatalf("Snapshot of a failed state: %v", err)
	}
	f.db = nil // already closed above

	g := openTestFSM(t, path)
	if g.AppliedIndex() != applied {
		t.Fatalf("AppliedIndex after reopen = %d, want %d", g.AppliedIndex(), applied)
	}
	if res := g.Apply(l).(Result); res.Err != nil {
		t.Fatalf("replayed entry: %v", res.Err)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	openTestFSM(t, path)
	start := time.Now()
	_, err := Open(path, nil)
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second Open: %v, want a lock error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("second Open took %v", d)
	}
}

func TestReadsAfterClose(t *testing.T) {
	f := withBucket(t)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Bucket("b1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Bucket after Close: %v, want ErrClosed", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
