package fsm

import (
	"testing"
)

// FuzzApply feeds arbitrary log entry bytes to an FSM with some state: it
// must answer with a Result (never panic, never a local failure), and a
// command that fails must leave the state as it was.
func FuzzApply(f *testing.F) {
	seeds := []struct {
		ct   CommandType
		body any
	}{
		{CmdInitCluster, initCluster()},
		{CmdPutBackend, putBackend("be-2", "other", "r2")},
		{CmdRemoveBackend, RemoveBackend{Name: "disk"}},
		{CmdRenameRegion, RenameRegion{Old: region, New: "r9"}},
		{CmdSetDefaultRegion, SetDefaultRegion{Region: region}},
		{CmdCreateBucket, createBucket("b2", region, backendID)},
		{CmdDeleteBucket, DeleteBucket{Name: "b1"}},
		{CmdPutObject, PutObject{Object: object("b1", "k", 1)}},
		{CmdDeleteObject, DeleteObject{Bucket: "b1", Key: "k"}},
		{CmdDeleteObject, DeleteObject{Bucket: "b1", Key: "k", IfReplicaETag: "be", IfModTime: t0}},
		{CmdCreateUpload, CreateUpload{Upload: upload("u2", "b1", "k", t0)}},
		{CmdPutPart, PutPart{Part: Part{UploadID: "u1", Number: 2}}},
		{CmdCompleteUpload, CompleteUpload{UploadID: "u1", Object: object("b1", "big", 1)}},
		{CmdAbortUpload, AbortUpload{UploadID: "u1"}},
	}
	for _, s := range seeds {
		data, err := Encode(s.ct, s.body)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	fsm := newTestFSM(f)
	withUpload(fsm)
	f.Fuzz(func(t *testing.T, data []byte) {
		before := dumpState(t, fsm.FSM)
		idx := fsm.next
		fsm.next++
		res, ok := fsm.Apply(rawEntry(idx, data)).(Result)
		if !ok {
			t.Fatalf("Apply returned no Result for %x", data)
		}
		if res.Err != nil && dumpState(t, fsm.FSM) != before {
			t.Fatalf("failed command %v changed the state", res.Err)
		}
	})
}
