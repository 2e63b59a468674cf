package fsm

import (
	"bytes"
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// dumpState renders every key and value of the state file, nested buckets
// included, except the applied index. Two FSMs with the same logical state
// have the same dump (records are encoded deterministically).
func dumpState(t testing.TB, f *FSM) string {
	t.Helper()
	var buf bytes.Buffer
	err := f.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			dumpBucket(&buf, string(name), b)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("dump state: %v", err)
	}
	return buf.String()
}

func dumpBucket(buf *bytes.Buffer, path string, b *bolt.Bucket) {
	_ = b.ForEach(func(k, v []byte) error {
		if v == nil {
			fmt.Fprintf(buf, "%s/%q/\n", path, k)
			dumpBucket(buf, path+"/"+string(k), b.Bucket(k))
			return nil
		}
		if path == string(bktMeta) && bytes.Equal(k, keyApplied) {
			return nil
		}
		fmt.Fprintf(buf, "%s/%q=%x\n", path, k, v)
		return nil
	})
}
