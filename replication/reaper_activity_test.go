package replication_test

import (
	"context"
	"testing"
	"time"

	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/replication"
)

// TestSweepKeepsActiveUploads: an upload is abandoned when nothing has
// happened to it for Expiry, not when it was initiated that long ago — a
// 5 TiB upload takes longer than a day, and reaping it mid-way throws away
// parts the client was told were stored.
func TestSweepKeepsActiveUploads(t *testing.T) {
	e := newEnv(t)
	active := e.upload(t, "active", "big", now.Add(-48*time.Hour))
	e.apply(t, fsm.CmdPutPart, fsm.PutPart{Part: fsm.Part{UploadID: active.ID, Number: 2, Size: 1,
		ETag: "0cc175b9c0f1b6a831c399e269772661", BackendETag: "0cc175b9c0f1b6a831c399e269772661", ModTime: now.Add(-time.Hour)}})
	abandoned := e.upload(t, "abandoned", "old", now.Add(-48*time.Hour))

	r := replication.NewUploadReaper(e.fsm, e.node, e.pool,
		replication.UploadReaperOptions{Expiry: 24 * time.Hour, Now: func() time.Time { return now }}, nil)
	n, err := r.Sweep(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 aborted", n, err)
	}
	if !e.hasUpload(t, active.ID) {
		t.Errorf("upload with a part stored an hour ago was reaped")
	}
	if e.hasUpload(t, abandoned.ID) {
		t.Errorf("upload idle for 48 hours was kept")
	}
	if n := e.staged(t); n != 1 {
		t.Errorf("%d staged uploads after the sweep, want only the active one", n)
	}
}

// TestSweepBatchCountsOnlyIdleUploads: uploads that are old but busy do not
// use up a pass's batch, so the abandoned ones behind them are still reaped.
func TestSweepBatchCountsOnlyIdleUploads(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"busy1", "busy2", "busy3"} {
		u := e.upload(t, id, "k-"+id, now.Add(-72*time.Hour))
		e.apply(t, fsm.CmdPutPart, fsm.PutPart{Part: fsm.Part{UploadID: u.ID, Number: 2, Size: 1,
			ETag: "0cc175b9c0f1b6a831c399e269772661", BackendETag: "0cc175b9c0f1b6a831c399e269772661", ModTime: now.Add(-time.Minute)}})
	}
	idle := e.upload(t, "zz-idle", "k-idle", now.Add(-48*time.Hour))

	r := replication.NewUploadReaper(e.fsm, e.node, e.pool,
		replication.UploadReaperOptions{Expiry: 24 * time.Hour, Batch: 2, Now: func() time.Time { return now }}, nil)
	n, err := r.Sweep(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the idle upload aborted", n, err)
	}
	if e.hasUpload(t, idle.ID) {
		t.Fatal("idle upload behind a batch of busy ones was kept")
	}
	u, ok, err := e.fsm.Upload("busy1")
	if err != nil || !ok || !u.LastPart.Equal(now.Add(-time.Minute)) {
		t.Fatalf("upload LastPart = %v (ok %v, err %v), want the latest part's time", u.LastPart, ok, err)
	}
}
