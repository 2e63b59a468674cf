package fsm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// testFSM is an FSM on a temporary file plus the next raft index to use.
type testFSM struct {
	*FSM
	t    testing.TB
	next uint64
}

func newTestFSM(t testing.TB) *testFSM {
	t.Helper()
	return openTestFSM(t, filepath.Join(t.TempDir(), "state.db"))
}

func openTestFSM(t testing.TB, path string) *testFSM {
	t.Helper()
	f, err := Open(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return &testFSM{FSM: f, t: t, next: f.AppliedIndex() + 1}
}

// entry builds the raft log entry of a command at index.
func entry(t testing.TB, index uint64, ct CommandType, body any) *raft.Log {
	t.Helper()
	data, err := Encode(ct, body)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

// apply applies one command at the next index and returns its Result.
func (f *testFSM) apply(ct CommandType, body any) Result {
	f.t.Helper()
	l := entry(f.t, f.next, ct, body)
	f.next++
	resp := f.Apply(l)
	res, ok := resp.(Result)
	if !ok {
		f.t.Fatalf("Apply(%s) returned %T (%v), want Result", ct, resp, resp)
	}
	if res.Index != l.Index {
		f.t.Fatalf("Apply(%s): Result.Index = %d, want %d", ct, res.Index, l.Index)
	}
	return res
}

// mustApply applies a command that must succeed.
func (f *testFSM) mustApply(ct CommandType, body any) Result {
	f.t.Helper()
	res := f.apply(ct, body)
	if res.Err != nil {
		f.t.Fatalf("Apply(%s): %v", ct, res.Err)
	}
	return res
}

// wantCode checks a Result's error code ("" means success).
func wantCode(t testing.TB, res Result, code string) {
	t.Helper()
	switch {
	case code == "" && res.Err != nil:
		t.Fatalf("unexpected error %v", res.Err)
	case code != "" && res.Err == nil:
		t.Fatalf("succeeded, want %s", code)
	case code != "" && res.Err.Code != code:
		t.Fatalf("error %v, want code %s", res.Err, code)
	case code != "" && !errors.Is(res.Err, ErrCode(code)):
		t.Fatalf("errors.Is(%v, ErrCode(%s)) = false", res.Err, code)
	}
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// Fixture names used across the tests.
const (
	adminKey  = "AKADMIN"
	backendID = "be-000000000001"
	region    = "local"
)

func initCluster() InitCluster {
	return InitCluster{
		Config: ClusterConfig{ClusterID: "c-1", CreatedAt: t0},
		Admin:  Credential{AccessKey: adminKey, SecretSealed: []byte("sealed"), CreatedAt: t0},
	}
}

func putBackend(id, name, regionName string) PutBackend {
	return PutBackend{
		Backend: Backend{ID: id, Name: name, Type: "fs", Path: "/srv/" + name, CreatedAt: t0},
		Regions: []Region{{Name: regionName, Backings: []BackingRegion{{BackendID: id, Region: "local"}}}},
	}
}

func createBucket(name, regionName, backend string) CreateBucket {
	return CreateBucket{Bucket: Bucket{
		Name: name, Region: regionName, Owner: adminKey, CreatedAt: t0,
		Backings: []BackingBucket{{BackendID: backend, Region: "local", Name: name + "-abc123"}},
	}}
}

func object(bucket, key string, size int64) Object {
	return Object{
		Bucket: bucket, Key: key, Size: size, ETag: fmt.Sprintf("etag-%d", size),
		Owner: adminKey, ModTime: t0,
		Meta:     ObjectMeta{ContentType: "text/plain", UserMeta: map[string]string{"a": "1", "b": "2"}},
		Replicas: []Replica{{BackendID: backendID, Bucket: bucket + "-abc123", Key: key, ETag: "be"}},
	}
}

func upload(id, bucket, key string, initiated time.Time) Upload {
	return Upload{
		ID: id, Bucket: bucket, Key: key, Owner: adminKey, Initiated: initiated,
		Backing:    BackingBucket{BackendID: backendID, Region: "local", Name: bucket + "-abc123"},
		BackingKey: key, BackendUploadID: "native-" + id,
	}
}

// withBucket returns an initialised FSM with one fs backend, region
// "local" and bucket "b1".
func withBucket(t testing.TB) *testFSM {
	t.Helper()
	f := newTestFSM(t)
	f.mustApply(CmdInitCluster, initCluster())
	f.mustApply(CmdPutBackend, putBackend(backendID, "disk", region))
	f.mustApply(CmdCreateBucket, createBucket("b1", region, backendID))
	return f
}

func rawEntry(index uint64, data []byte) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

func mustEncodeBody(t testing.TB, v any) []byte {
	t.Helper()
	b, err := encodeRecord(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func isCode(err error, code string) bool { return errors.Is(err, ErrCode(code)) }

// countParts counts every part record of every upload.
func countParts(t testing.TB, f *testFSM) int {
	t.Helper()
	n := 0
	err := f.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bktParts).ForEach(func(_, _ []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
