package fsm

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// TestDeleteObjectEncodingUnchanged: an unconditional DeleteObject encodes
// exactly as before the condition fields existed, and such an old entry
// decodes as unconditional, so replaying an old log deletes as it did.
func TestDeleteObjectEncodingUnchanged(t *testing.T) {
	type oldDeleteObject struct {
		Bucket string `msgpack:"bucket"`
		Key    string `msgpack:"key"`
	}
	old, err := msgpack.Marshal(oldDeleteObject{Bucket: "b1", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	cur, err := msgpack.Marshal(DeleteObject{Bucket: "b1", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(old, cur) {
		t.Fatalf("unconditional DeleteObject encodes as %x, before the condition fields it was %x", cur, old)
	}
	var d DeleteObject
	if err := msgpack.Unmarshal(old, &d); err != nil {
		t.Fatal(err)
	}
	if d.IfReplicaETag != "" || !d.IfModTime.IsZero() {
		t.Fatalf("old entry decodes with a condition: %+v", d)
	}
	f := withBucket(t)
	f.mustApply(CmdPutObject, PutObject{Object: object("b1", "k", 1)})
	l := &raft.Log{Index: f.next, Term: 1, Type: raft.LogCommand, Data: append([]byte{byte(CmdDeleteObject)}, old...)}
	res, ok := f.Apply(l).(Result)
	if !ok || res.Err != nil || res.Previous == nil {
		t.Fatalf("old-format delete: %+v", res)
	}
	if _, ok, _ := f.Object("b1", "k"); ok {
		t.Fatal("old-format delete left the record")
	}
}
