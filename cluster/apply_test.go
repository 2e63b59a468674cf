package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stratagw/strata/fsm"
)

// TestApplyEveryCommandType submits every command type through raft, in an
// order where each succeeds or fails with its documented code, and checks
// the effect through the FSM's read side.
func TestApplyEveryCommandType(t *testing.T) {
	tn := startNode(t, t.TempDir())
	upload := fsm.Upload{
		ID: "up-1", Bucket: "photos", Key: "big", Owner: "ADMIN", Initiated: epoch,
		Backing: fsm.BackingBucket{BackendID: "be-000000000001", Region: "local", Name: "photos-0001"}, BackingKey: "big",
		BackendUploadID: "native-1",
	}
	upload2 := upload
	upload2.ID = "up-2"
	steps := []struct {
		name string
		t    fsm.CommandType
		body any
		code string // "" = success
	}{
		{"set default region before init", fsm.CmdSetDefaultRegion, fsm.SetDefaultRegion{Region: "local"}, fsm.CodeInvalid},
		{"init", fsm.CmdInitCluster, fsm.InitCluster{
			Config: fsm.ClusterConfig{ClusterID: "c-1", CreatedAt: epoch},
			Admin:  fsm.Credential{AccessKey: "ADMIN", SecretSealed: []byte("sealed"), CreatedAt: epoch},
		}, ""},
		{"init twice", fsm.CmdInitCluster, fsm.InitCluster{
			Config: fsm.ClusterConfig{ClusterID: "c-2"},
			Admin:  fsm.Credential{AccessKey: "OTHER", SecretSealed: []byte("x")},
		}, fsm.CodeAlreadyInitialized},
		{"put backend", fsm.CmdPutBackend, fsm.PutBackend{
			Backend: fsm.Backend{ID: "be-000000000001", Name: "disk", Type: "fs", Path: "/srv"},
			Regions: []fsm.Region{{Name: "disk", Backings: []fsm.BackingRegion{{BackendID: "be-000000000001", Region: "local"}}}},
		}, ""},
		{"put backend same name", fsm.CmdPutBackend, fsm.PutBackend{
			Backend: fsm.Backend{ID: "be-000000000002", Name: "disk", Type: "fs", Path: "/srv2"},
			Regions: []fsm.Region{{Name: "disk2", Backings: []fsm.BackingRegion{{BackendID: "be-000000000002", Region: "local"}}}},
		}, fsm.CodeBackendExists},
		{"rename missing region", fsm.CmdRenameRegion, fsm.RenameRegion{Old: "nope", New: "x"}, fsm.CodeNoSuchRegion},
		{"rename region", fsm.CmdRenameRegion, fsm.RenameRegion{Old: "disk", New: "local"}, ""},
		{"default region missing", fsm.CmdSetDefaultRegion, fsm.SetDefaultRegion{Region: "disk"}, fsm.CodeNoSuchRegion},
		{"default region", fsm.CmdSetDefaultRegion, fsm.SetDefaultRegion{Region: "local"}, ""},
		{"create bucket", fsm.CmdCreateBucket, fsm.CreateBucket{Bucket: bucketRecord("photos")}, ""},
		{"create bucket twice", fsm.CmdCreateBucket, fsm.CreateBucket{Bucket: bucketRecord("photos")}, fsm.CodeBucketExists},
		{"put object", fsm.CmdPutObject, fsm.PutObject{Object: objectRecord("photos", "a.jpg", 1)}, ""},
		{"put object no bucket", fsm.CmdPutObject, fsm.PutObject{Object: objectRecord("nope", "a.jpg", 1)}, fsm.CodeNoSuchBucket},
		{"create upload", fsm.CmdCreateUpload, fsm.CreateUpload{Upload: upload}, ""},
		{"put part", fsm.CmdPutPart, fsm.PutPart{Part: fsm.Part{UploadID: "up-1", Number: 1, Size: 5 << 20, ETag: "e1", BackendETag: "b1", ModTime: epoch}}, ""},
		{"put part unknown upload", fsm.CmdPutPart, fsm.PutPart{Part: fsm.Part{UploadID: "up-9", Number: 1}}, fsm.CodeNoSuchUpload},
		{"complete upload", fsm.CmdCompleteUpload, fsm.CompleteUpload{UploadID: "up-1", Object: objectRecord("photos", "big", 7)}, ""},
		{"complete upload again", fsm.CmdCompleteUpload, fsm.CompleteUpload{UploadID: "up-1", Object: objectRecord("photos", "big", 7)}, fsm.CodeNoSuchUpload},
		{"create second upload", fsm.CmdCreateUpload, fsm.CreateUpload{Upload: upload2}, ""},
		{"abort upload", fsm.CmdAbortUpload, fsm.AbortUpload{UploadID: "up-2"}, ""},
		{"abort upload again", fsm.CmdAbortUpload, fsm.AbortUpload{UploadID: "up-2"}, fsm.CodeNoSuchUpload},
		{"delete non-empty bucket", fsm.CmdDeleteBucket, fsm.DeleteBucket{Name: "photos"}, fsm.CodeBucketNotEmpty},
		{"remove backend in use", fsm.CmdRemoveBackend, fsm.RemoveBackend{Name: "disk"}, fsm.CodeBackendInUse},
		{"delete object", fsm.CmdDeleteObject, fsm.DeleteObject{Bucket: "photos", Key: "a.jpg"}, ""},
		{"delete multipart object", fsm.CmdDeleteObject, fsm.DeleteObject{Bucket: "photos", Key: "big"}, ""},
		{"delete missing object", fsm.CmdDeleteObject, fsm.DeleteObject{Bucket: "photos", Key: "a.jpg"}, ""},
		{"delete bucket", fsm.CmdDeleteBucket, fsm.DeleteBucket{Name: "photos"}, ""},
		{"delete bucket twice", fsm.CmdDeleteBucket, fsm.DeleteBucket{Name: "photos"}, fsm.CodeNoSuchBucket},
		{"remove backend", fsm.CmdRemoveBackend, fsm.RemoveBackend{Name: "disk"}, ""},
		{"remove backend twice", fsm.CmdRemoveBackend, fsm.RemoveBackend{Name: "disk"}, fsm.CodeNoSuchBackend},
	}
	var last uint64
	for _, s := range steps {
		res, err := tn.Apply(context.Background(), s.t, s.body)
		if s.code == "" {
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		} else {
			wantFSMError(t, res, err, s.code)
		}
		if res.Index <= last {
			t.Fatalf("%s: Result.Index %d not after previous %d", s.name, res.Index, last)
		}
		last = res.Index
		if got := tn.fsm.AppliedIndex(); got != res.Index {
			t.Fatalf("%s: FSM applied index %d after Apply returned index %d", s.name, got, res.Index)
		}
	}

	// Removing the backend removed its region, and with it the default.
	if cfg, ok, err := tn.fsm.Config(); err != nil || !ok || cfg.ClusterID != "c-1" || cfg.DefaultRegion != "" {
		t.Fatalf("Config = %+v, %v, %v", cfg, ok, err)
	}
	if _, ok, _ := tn.fsm.Bucket("photos"); ok {
		t.Fatal("bucket photos still exists")
	}
	if bes, _ := tn.fsm.Backends(); len(bes) != 0 {
		t.Fatalf("backends left: %+v", bes)
	}
}

// TestApplyReturnsPrevious checks that Result.Previous travels back
// through raft.
func TestApplyReturnsPrevious(t *testing.T) {
	tn := startNode(t, t.TempDir())
	seed(t, tn, "b")
	first := objectRecord("b", "k", 1)
	if res := tn.mustApply(t, fsm.CmdPutObject, fsm.PutObject{Object: first}); res.Previous != nil {
		t.Fatalf("first put: Previous = %+v", res.Previous)
	}
	res := tn.mustApply(t, fsm.CmdPutObject, fsm.PutObject{Object: objectRecord("b", "k", 2)})
	if res.Previous == nil || res.Previous.ETag != first.ETag {
		t.Fatalf("overwrite: Previous = %+v, want the first record", res.Previous)
	}
}

// TestApplyMalformedCommands checks that commands the FSM cannot decode are
// deterministic failures, not node failures.
func TestApplyMalformedCommands(t *testing.T) {
	tn := startNode(t, t.TempDir())
	cases := []struct {
		name string
		cmd  []byte
		code string
	}{
		{"unknown type", []byte{200, 0x80}, fsm.CodeUnknownCommand},
		{"garbage body", []byte{byte(fsm.CmdPutObject), 0xc1, 0xff}, fsm.CodeInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := tn.ApplyEncoded(context.Background(), c.cmd)
			wantFSMError(t, res, err, c.code)
		})
	}
	// An unencodable body fails before raft.
	if _, err := tn.Apply(context.Background(), fsm.CmdPutObject, make(chan int)); err == nil {
		t.Fatal("Apply of an unencodable body succeeded")
	}
}

// TestApplyHonoursContext checks that a cancelled context stops Apply.
func TestApplyHonoursContext(t *testing.T) {
	tn := startNode(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := tn.Apply(ctx, fsm.CmdDeleteObject, fsm.DeleteObject{Bucket: "b", Key: "k"})
	if err == nil {
		// raft may have finished before the context was looked at; both
		// outcomes are allowed, a hang is not.
		return
	}
	if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestCloseDuringApply closes the node while many Applies are in flight:
// every call returns (no hang), failures are ErrShutdown, and calls after
// Close fail with ErrShutdown at once.
func TestCloseDuringApply(t *testing.T) {
	tn := startNode(t, t.TempDir())
	seed(t, tn, "b")
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []error
	)
	started := make(chan struct{})
	var once sync.Once
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				once.Do(func() { close(started) })
				_, err := tn.Apply(context.Background(), fsm.CmdPutObject,
					fsm.PutObject{Object: objectRecord("b", fmt.Sprintf("w%d/%d", w, i), i)})
				if err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	<-started
	time.Sleep(50 * time.Millisecond)
	if err := tn.Node.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Apply calls still blocked 5s after Close")
	}
	for _, err := range failures {
		if !errors.Is(err, ErrShutdown) {
			t.Errorf("in-flight Apply failed with %v, want ErrShutdown", err)
		}
	}
	if _, err := tn.Apply(context.Background(), fsm.CmdDeleteObject, fsm.DeleteObject{Bucket: "b", Key: "k"}); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Apply after Close: %v, want ErrShutdown", err)
	}
	if err := tn.ReadBarrier(context.Background()); !errors.Is(err, ErrShutdown) {
		t.Fatalf("ReadBarrier after Close: %v, want ErrShutdown", err)
	}
	if err := tn.Node.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestNodeWithoutLeader checks what a node that is not the leader (here:
// opened but never bootstrapped, so no leader at all) answers.
func TestNodeWithoutLeader(t *testing.T) {
	tn := openNode(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := tn.Apply(ctx, fsm.CmdDeleteObject, fsm.DeleteObject{Bucket: "b", Key: "k"}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Apply: %v, want ErrNotLeader", err)
	}
	if err := tn.ReadBarrier(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("ReadBarrier: %v, want ErrNotLeader", err)
	}
	if _, err := tn.ReadIndex(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("ReadIndex: %v, want ErrNotLeader", err)
	}
	if err := tn.WaitForLeader(ctx); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("WaitForLeader: %v, want ErrNoLeader", err)
	}
	if tn.IsLeader() || tn.Ready() {
		t.Fatal("a node without leader reports leader/ready")
	}
	if id, addr := tn.Leader(); id != "" || addr != "" {
		t.Fatalf("Leader() = %q, %q, want none", id, addr)
	}
}
