package replication_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/backend/pool"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/internal/testenv"
	"github.com/stratagw/strata/replication"
)

// TestSweepS3BackendAndOutage: on a real S3 backend (versitygw) orphans
// are deleted and records kept like on fs; once that backend is down, the
// sweep reports it and still cleans the fs bucket after it.
func TestSweepS3BackendAndOutage(t *testing.T) {
	e := newEnv(t)
	srv := testenv.Versitygw(t)
	const (
		vgwID      = "be-000000000002"
		vgwBucket  = "archive" // sorts before "photos": swept first
		vgwBacking = "archive-0001"
	)
	sealed, err := e.box.Seal(pool.SecretLabel(vgwID), []byte(srv.SecretKey))
	if err != nil {
		t.Fatal(err)
	}
	e.apply(t, fsm.CmdPutBackend, fsm.PutBackend{
		Backend: fsm.Backend{ID: vgwID, Name: "vgw", Type: "s3", Endpoint: srv.Endpoint, Region: srv.Region,
			PathStyle: true, AccessKey: srv.AccessKey, SecretSealed: sealed, CreatedAt: now},
		Regions: []fsm.Region{{Name: "vgw", Backings: []fsm.BackingRegion{{BackendID: vgwID, Region: srv.Region}}}},
	})
	e.apply(t, fsm.CmdCreateBucket, fsm.CreateBucket{Bucket: fsm.Bucket{Name: vgwBucket, Region: "vgw", Owner: "ADMIN", CreatedAt: now,
		Backings: []fsm.BackingBucket{{BackendID: vgwID, Region: srv.Region, Name: vgwBacking}}}})
	ctx := context.Background()
	vgw, err := e.pool.Get(ctx, vgwID)
	if err != nil {
		t.Fatal(err)
	}
	if err := vgw.CreateBucket(ctx, srv.Region, vgwBacking); err != nil {
		t.Fatal(err)
	}
	putBacking(t, vgw, vgwBacking, "orphan")
	putBacking(t, vgw, vgwBacking, "recorded")
	e.apply(t, fsm.CmdPutObject, fsm.PutObject{Object: fsm.Object{Bucket: vgwBucket, Key: "recorded", Size: 1,
		ETag: "0cc175b9c0f1b6a831c399e269772661", Owner: "ADMIN", ModTime: now,
		Replicas: []fsm.Replica{{BackendID: vgwID, Bucket: vgwBacking, Key: "recorded", ETag: "0cc175b9c0f1b6a831c399e269772661"}}}})
	putBacking(t, e.be, backing, "fs-orphan-1")
	// A multipart object the backend assembled whose CompleteUpload has not
	// committed yet: its upload record still protects it (its
	// LastModified may be the initiation time, hours ago).
	bid, err := vgw.CreateMultipart(ctx, vgwBacking, "completed", backend.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	etag, err := vgw.UploadPart(ctx, vgwBacking, "completed", bid, 1, strings.NewReader("part"), 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vgw.CompleteMultipart(ctx, vgwBacking, "completed", bid, []backend.CompletedPart{{Number: 1, ETag: etag}}); err != nil {
		t.Fatal(err)
	}
	e.apply(t, fsm.CmdCreateUpload, fsm.CreateUpload{Upload: fsm.Upload{ID: "up-vgw", Bucket: vgwBucket, Key: "completed",
		Owner: "ADMIN", Initiated: now, Backing: fsm.BackingBucket{BackendID: vgwID, Region: srv.Region, Name: vgwBacking},
		BackingKey: "completed", BackendUploadID: bid}})

	clk := newClock()
	c := e.cleaner(clk, replication.OrphanCleanerOptions{})
	sweep(t, c, 0) // all young
	clk.advance(2 * time.Hour)
	sweep(t, c, 2)
	wantKeys(t, vgw, vgwBacking, "completed", "recorded")
	wantKeys(t, e.be, backing)

	srv.Stop()
	putBacking(t, e.be, backing, "fs-orphan-2")
	clk.advance(2 * time.Hour)
	n, err := c.Sweep(ctx)
	if n != 1 || err == nil {
		t.Fatalf("Sweep with the S3 backend down = %d, %v; want 1 deleted and an error", n, err)
	}
	t.Logf("sweep error with the backend down: %v", err)
	wantKeys(t, e.be, backing)
}
