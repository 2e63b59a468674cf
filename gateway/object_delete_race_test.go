package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/backend/fs"
	"github.com/stratagw/strata/backend/s3"
	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/internal/testenv"
)

// These tests put another node's write between the steps of a delete:
// the gateway runs on a real single raft node, real FSM and fs backend;
// the "other node" writes the backend and commits through the same raft
// node, at the moment a hook fires inside removeObject.

const (
	raceBackendID = "be-000000000001"
	raceBacking   = "b-backing"
)

// rigOptions tweak a raceRig.
type rigOptions struct {
	// grace is the gateway's Config.RepairGrace (0: the default).
	grace time.Duration
	// versitygw backs the bucket with a real versitygw (s3 backend)
	// instead of an fs directory.
	versitygw bool
}

// rigBackends are the backend kinds the rig tests run on.
var rigBackends = []struct {
	name      string
	versitygw bool
}{{"fs", false}, {"versitygw", true}}

// testClock is the gateway's clock in the rig: frozen, moved by the test.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// hookCluster is the raft node with a hook run once just before the next
// DeleteObject is submitted (after the delete's backend step).
type hookCluster struct {
	*cluster.Node
	beforeDelete func()
}

func (c *hookCluster) Apply(ctx context.Context, t fsm.CommandType, body any) (fsm.Result, error) {
	if hook := c.beforeDelete; t == fsm.CmdDeleteObject && hook != nil {
		c.beforeDelete = nil
		hook()
	}
	return c.Node.Apply(ctx, t, body)
}

// hookBackends hands out the one fs backend and runs a hook once just
// before the next Get (the delete opens the backend right before it
// deletes the bytes).
type hookBackends struct {
	be        backend.Backend
	beforeGet func()
}

func (b *hookBackends) Get(_ context.Context, id string) (backend.Backend, error) {
	if hook := b.beforeGet; hook != nil {
		b.beforeGet = nil
		hook()
	}
	if id != raceBackendID {
		return nil, errors.New("unknown backend " + id)
	}
	return b.be, nil
}

// noCredentials: these tests call the handlers directly.
type noCredentials struct{}

func (noCredentials) Lookup(context.Context, string) (Identity, string, bool, error) {
	return Identity{}, "", false, nil
}

// raceRig is a gateway plus the means to act as another node.
type raceRig struct {
	t        *testing.T
	g        *Gateway
	node     *cluster.Node
	state    *fsm.FSM
	cl       *hookCluster
	backends *hookBackends
	clock    *testClock
	// vgw is the versitygw behind the backend (zero for fs).
	vgw testenv.S3Server
}

func newRaceRig(t *testing.T, opts rigOptions) *raceRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	state, err := fsm.Open(filepath.Join(dir, "state.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = state.Close() })
	node, err := cluster.New(cluster.Config{
		NodeID: "n1", DataDir: dir, BindAddr: "127.0.0.1:0", FSM: state, Logger: logger,
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close() })
	if err := node.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := node.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	r := &raceRig{t: t, node: node, state: state, cl: &hookCluster{Node: node}, clock: &testClock{now: time.Now().UTC()}}
	be, region := r.openBackend(ctx, opts.versitygw)
	if err := be.CreateBucket(ctx, region, raceBacking); err != nil {
		t.Fatal(err)
	}
	r.backends = &hookBackends{be: be}
	r.g, err = New(Config{RepairGrace: opts.grace, Now: r.clock.Now},
		Deps{State: state, Cluster: r.cl, Backends: r.backends, Credentials: noCredentials{}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r.applyWhenLeader(ctx, fsm.CmdInitCluster, fsm.InitCluster{
		Config: fsm.ClusterConfig{ClusterID: "c-1", CreatedAt: t0},
		Admin:  fsm.Credential{AccessKey: "AKADMIN", SecretSealed: []byte("sealed"), CreatedAt: t0},
	})
	r.apply(fsm.CmdPutBackend, fsm.PutBackend{
		Backend: fsm.Backend{ID: raceBackendID, Name: "disk", Type: "fs", Path: "/unused", CreatedAt: t0},
		Regions: []fsm.Region{{Name: "local", Backings: []fsm.BackingRegion{{BackendID: raceBackendID, Region: "local"}}}},
	})
	r.apply(fsm.CmdCreateBucket, fsm.CreateBucket{Bucket: fsm.Bucket{Name: "b", Region: "local", Owner: "AKADMIN", CreatedAt: t0,
		Backings: []fsm.BackingBucket{{BackendID: raceBackendID, Region: "local", Name: raceBacking}}}})
	return r
}

// openBackend opens a fresh fs backend, or starts a versitygw and opens
// an s3 backend on it; it returns the backend and its region.
func (r *raceRig) openBackend(ctx context.Context, versitygw bool) (backend.Backend, string) {
	r.t.Helper()
	if !versitygw {
		be, err := fs.New(r.t.TempDir())
		if err != nil {
			r.t.Fatal(err)
		}
		return be, "local"
	}
	r.vgw = testenv.Versitygw(r.t)
	be, err := s3.New(ctx, backend.Config{Type: "s3", Endpoint: r.vgw.Endpoint, Region: r.vgw.Region, PathStyle: true,
		AccessKey: r.vgw.AccessKey, SecretKey: r.vgw.SecretKey})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = be.Close() })
	return be, r.vgw.Region
}

// applyWhenLeader applies the first command, waiting for the freshly
// bootstrapped node to win its election.
func (r *raceRig) applyWhenLeader(ctx context.Context, t fsm.CommandType, body any) {
	r.t.Helper()
	for {
		res, err := r.node.Apply(ctx, t, body)
		if err == nil && res.Err == nil {
			return
		}
		if ctx.Err() != nil {
			r.t.Fatalf("apply %s: %v %v", t, err, res.Err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *raceRig) apply(t fsm.CommandType, body any) {
	r.t.Helper()
	res, err := r.node.Apply(context.Background(), t, body)
	if err == nil && res.Err != nil {
		err = res.Err
	}
	if err != nil {
		r.t.Fatalf("apply %s: %v", t, err)
	}
}

// writeBytes is another node's backend write of b/k.
func (r *raceRig) writeBytes(body string) backend.ObjectInfo {
	r.t.Helper()
	info, err := r.backends.be.PutObject(context.Background(), raceBacking, "k", bytes.NewReader([]byte(body)), int64(len(body)), backend.Meta{})
	if err != nil {
		r.t.Fatal(err)
	}
	return info
}

// commit is another node's commit of the record of b/k for info.
func (r *raceRig) commit(info backend.ObjectInfo, mod time.Time) {
	r.t.Helper()
	r.apply(fsm.CmdPutObject, fsm.PutObject{Object: fsm.Object{
		Bucket: "b", Key: "k", Size: info.Size, ETag: info.ETag, Owner: "AKADMIN", ModTime: mod,
		Replicas: []fsm.Replica{{BackendID: raceBackendID, Bucket: raceBacking, Key: "k", ETag: info.ETag}},
	}})
}

// readRequest is a GET or HEAD of b/k by the admin.
func readRequest(method string) *request {
	return &request{HTTP: httptest.NewRequest(method, "/b/k", nil), ID: "test", Bucket: "b", Key: "k",
		Query: url.Values{}, Header: http.Header{}, Identity: Identity{AccessKey: "AKADMIN", Admin: true}}
}

// head is a HEAD of b/k through the gateway.
func (r *raceRig) head() error {
	_, err := r.g.readObject(context.Background(), readRequest(http.MethodHead), false)
	return err
}

// get is a GET of b/k through the gateway: the body, or the error.
func (r *raceRig) get() (string, error) {
	resp, err := r.g.readObject(context.Background(), readRequest(http.MethodGet), true)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// assertGone checks that b/k has no record and that the bucket lists
// nothing and counts as empty (what DeleteBucket checks).
func (r *raceRig) assertGone(when string) {
	r.t.Helper()
	if rec, ok, err := r.state.Object("b", "k"); err != nil || ok {
		r.t.Errorf("%s: record %+v, %v, %v; want none", when, rec, ok, err)
	}
	list, err := r.state.ListObjects("b", fsm.ListOptions{})
	if err != nil || len(list.Objects) != 0 {
		r.t.Errorf("%s: listing %+v, %v; want empty", when, list.Objects, err)
	}
	if empty, err := r.state.BucketEmpty("b"); err != nil || !empty {
		r.t.Errorf("%s: bucket empty = %v, %v; want true", when, empty, err)
	}
}

// assertKept checks that b/k still has the record with ModTime mod.
func (r *raceRig) assertKept(when string, mod time.Time) {
	r.t.Helper()
	rec, ok, err := r.state.Object("b", "k")
	if err != nil || !ok {
		r.t.Fatalf("%s: record %v, %v; want kept", when, ok, err)
	}
	if !rec.ModTime.Equal(mod) {
		r.t.Errorf("%s: record has ModTime %v, want %v", when, rec.ModTime, mod)
	}
}

// assertReadsDeleted checks that GET and HEAD of b/k answer NoSuchKey.
func (r *raceRig) assertReadsDeleted(when string) {
	r.t.Helper()
	if got, err := r.get(); !isNoSuchKey(err) {
		r.t.Errorf("%s: GET %q, %v; want NoSuchKey", when, got, err)
	}
	if err := r.head(); !isNoSuchKey(err) {
		r.t.Errorf("%s: HEAD %v; want NoSuchKey", when, err)
	}
}

// TestDeleteInterleavedWithWrite runs a DELETE of b/k with another node's
// write of the key at each point between the delete's steps, and checks
// the outcome the linearization in object_delete.go promises: the write's
// effect is at its backend step, the delete's at its backend delete. A
// write the delete overtook (its bytes deleted) leaves no record behind
// once that record is older than the repair grace.
func TestDeleteInterleavedWithWrite(t *testing.T) {
	tests := []struct {
		name string
		// body of the concurrent write; "" means none.
		body string
		// writeFirst: the write's backend step comes before the
		// delete's (Bw Ad Bc Ac), else after it (Ad Bw Bc Ac).
		writeFirst bool
		// commitLast: the write commits after the delete did (Ad Bw Ac Bc).
		commitLast bool
		// defaultGrace runs with the default repair grace (the write's
		// record is then too young to remove), else with 1 ms.
		defaultGrace bool
		// want is the GET after both: the body, or "" for NoSuchKey.
		want       string
		wantRecord bool
	}{
		{name: "no concurrent write", want: ""},
		{name: "Ad Bw Bc Ac: the write survives", body: "new bytes", want: "new bytes", wantRecord: true},
		{name: "Ad Bw Bc Ac with the same bytes: the write survives", body: "old bytes", want: "old bytes", wantRecord: true},
		{name: "Ad Bw Bc Ac with the default grace: the write survives", body: "new bytes", defaultGrace: true, want: "new bytes", wantRecord: true},
		{name: "Bw Ad Bc Ac: the delete comes last and removes the record it overtook", body: "new bytes", writeFirst: true, want: ""},
		{name: "Bw Ad Bc Ac with the default grace: the young record stays", body: "new bytes", writeFirst: true, defaultGrace: true, want: "", wantRecord: true},
		{name: "Ad Bw Ac Bc: the write comes last", body: "new bytes", commitLast: true, want: "new bytes", wantRecord: true},
	}
	for _, bk := range rigBackends {
		for _, tc := range tests {
			t.Run(bk.name+"/"+tc.name, func(t *testing.T) {
				opts := rigOptions{grace: time.Millisecond, versitygw: bk.versitygw}
				if tc.defaultGrace {
					opts.grace = 0
				}
				r := newRaceRig(t, opts)
				newer := r.clock.Now().Add(-time.Second)
				r.commit(r.writeBytes("old bytes"), newer.Add(-time.Minute))
				if got, err := r.get(); err != nil || got != "old bytes" {
					t.Fatalf("GET before: %q, %v", got, err)
				}
				var info backend.ObjectInfo
				switch {
				case tc.body != "" && tc.writeFirst:
					r.backends.beforeGet = func() { info = r.writeBytes(tc.body) }
					r.cl.beforeDelete = func() { r.commit(info, newer) }
				case tc.body != "" && tc.commitLast:
					r.cl.beforeDelete = func() { info = r.writeBytes(tc.body) }
				case tc.body != "":
					r.cl.beforeDelete = func() { r.commit(r.writeBytes(tc.body), newer) }
				}
				if err := r.g.removeObject(context.Background(), "b", "k"); err != nil {
					t.Fatalf("removeObject: %v", err)
				}
				if tc.commitLast {
					r.commit(info, newer)
				}
				if r.backends.beforeGet != nil || r.cl.beforeDelete != nil {
					t.Fatal("a hook did not fire: the delete did not run the steps this test interleaves with")
				}
				if !tc.wantRecord {
					r.assertGone("after the delete")
				}
				got, err := r.get()
				switch {
				case tc.want == "" && !isNoSuchKey(err):
					t.Errorf("GET after: %q, %v; want NoSuchKey", got, err)
				case tc.want != "" && (err != nil || got != tc.want):
					t.Errorf("GET after: %q, %v; want %q", got, err, tc.want)
				}
				if err := r.head(); (tc.want == "") != isNoSuchKey(err) || (tc.want != "" && err != nil) {
					t.Errorf("HEAD after: %v; want the same outcome as GET", err)
				}
				if !tc.wantRecord {
					r.assertGone("after the reads")
					return
				}
				r.assertKept("after the reads", newer)
				if tc.want != "" {
					return
				}
				// The young record without bytes goes once it is older
				// than the grace and read again.
				r.clock.advance(DefaultRepairGrace)
				r.assertReadsDeleted("after the grace")
				r.assertGone("after a read past the grace")
			})
		}
	}
}

// TestDeleteRemovesGhostsOfLaterWriters: after its condition failed, a
// DELETE removes the newer record it overtook (Bw Ad Bc Ac), and then a
// still newer one if that also has no bytes; a writer that commits real
// bytes meanwhile is protected by the condition on the version and
// survives.
func TestDeleteRemovesGhostsOfLaterWriters(t *testing.T) {
	tests := []struct {
		name string
		// cBytes: the third writer C stores real bytes before it
		// commits; else it commits a record whose bytes are missing.
		cBytes   bool
		wantBody string
	}{
		{name: "a second record without bytes is removed too"},
		{name: "a writer with bytes committed in between survives", cBytes: true, wantBody: "c bytes"},
	}
	for _, bk := range rigBackends {
		for _, tc := range tests {
			t.Run(bk.name+"/"+tc.name, func(t *testing.T) {
				r := newRaceRig(t, rigOptions{grace: time.Millisecond, versitygw: bk.versitygw})
				now := r.clock.Now()
				bMod, cMod := now.Add(-2*time.Second), now.Add(-time.Second)
				r.commit(r.writeBytes("old bytes"), now.Add(-time.Minute))
				var bInfo backend.ObjectInfo
				r.backends.beforeGet = func() { bInfo = r.writeBytes("b bytes") }
				r.cl.beforeDelete = func() {
					r.commit(bInfo, bMod) // Bc: A's condition fails
					// C commits just before A removes B's record: A's
					// second condition fails too.
					r.cl.beforeDelete = func() {
						cInfo := backend.ObjectInfo{Size: 7, ETag: "0123456789abcdef0123456789abcdef"}
						if tc.cBytes {
							cInfo = r.writeBytes(tc.wantBody)
						}
						r.commit(cInfo, cMod)
					}
				}
				if err := r.g.removeObject(context.Background(), "b", "k"); err != nil {
					t.Fatalf("removeObject: %v", err)
				}
				if r.backends.beforeGet != nil || r.cl.beforeDelete != nil {
					t.Fatal("a hook did not fire: the delete did not reach a second round")
				}
				if !tc.cBytes {
					r.assertGone("after the delete")
					r.assertReadsDeleted("after the delete")
					return
				}
				r.assertKept("after the delete", cMod)
				if got, err := r.get(); err != nil || got != tc.wantBody {
					t.Errorf("GET after: %q, %v; want %q", got, err, tc.wantBody)
				}
			})
		}
	}
}

// TestReadRemovesGhostAfterGrace: a record whose bytes vanished behind
// strata's back reads as deleted at once, and a GET or HEAD removes it
// only once it is older than the repair grace, and not while a write of
// the key holds the per-key lock on this node.
func TestReadRemovesGhostAfterGrace(t *testing.T) {
	for _, bk := range rigBackends {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			t.Run(bk.name+"/"+method, func(t *testing.T) {
				r := newRaceRig(t, rigOptions{versitygw: bk.versitygw})
				mod := r.clock.Now()
				r.commit(r.writeBytes("bytes"), mod)
				if err := r.backends.be.DeleteObject(context.Background(), raceBacking, "k"); err != nil {
					t.Fatal(err)
				}
				read := func(when string) {
					t.Helper()
					_, err := r.g.readObject(context.Background(), readRequest(method), method == http.MethodGet)
					if !isNoSuchKey(err) {
						t.Fatalf("%s: %s %v; want NoSuchKey", when, method, err)
					}
				}
				read("young")
				r.assertKept("after a read of a young record", mod)
				r.clock.advance(DefaultRepairGrace - time.Nanosecond)
				read("just younger than the grace")
				r.assertKept("after a read just inside the grace", mod)
				r.clock.advance(time.Nanosecond)
				unlock := r.g.locks.lock("b", "k")
				read("past the grace, key locked")
				unlock()
				r.assertKept("after a read while a write held the key", mod)
				read("past the grace")
				r.assertGone("after a read past the grace")
			})
		}
	}
}

// TestReadKeepsRecordsWhenBackingBucketIsGone: a backend that lost the
// backing bucket (wrong endpoint, unmounted share) answers "not found" for
// every object; that must never cost records. Reads answer 404 and keep
// the record; once the bucket is back the record is a ghost like any
// other. A backend that is down keeps them too.
func TestReadKeepsRecordsWhenBackingBucketIsGone(t *testing.T) {
	for _, bk := range rigBackends {
		t.Run(bk.name, func(t *testing.T) {
			r := newRaceRig(t, rigOptions{grace: time.Millisecond, versitygw: bk.versitygw})
			ctx := context.Background()
			mod := r.clock.Now().Add(-time.Hour)
			r.commit(r.writeBytes("bytes"), mod)
			if err := r.backends.be.DeleteObject(ctx, raceBacking, "k"); err != nil {
				t.Fatal(err)
			}
			if err := r.backends.be.DeleteBucket(ctx, raceBacking); err != nil {
				t.Fatal(err)
			}
			r.assertReadsDeleted("backing bucket gone")
			r.assertKept("after reads with the backing bucket gone", mod)
			region := "local"
			if bk.versitygw {
				region = r.vgw.Region
			}
			if err := r.backends.be.CreateBucket(ctx, region, raceBacking); err != nil {
				t.Fatal(err)
			}
			r.assertReadsDeleted("backing bucket back")
			r.assertGone("after reads with the backing bucket back")
			if !bk.versitygw {
				return
			}
			r.commit(backend.ObjectInfo{Size: 5, ETag: "0123456789abcdef0123456789abcdef"}, mod)
			r.vgw.Stop()
			if _, err := r.get(); err == nil || isNoSuchKey(err) {
				t.Errorf("GET with the backend down: %v; want an error other than NoSuchKey", err)
			}
			r.assertKept("after a read with the backend down", mod)
		})
	}
}

// TestRepairDisabled: a negative RepairGrace turns the removal of records
// without bytes off, for reads and deletes alike.
func TestRepairDisabled(t *testing.T) {
	r := newRaceRig(t, rigOptions{grace: -1})
	mod := r.clock.Now().Add(-24 * time.Hour)
	r.commit(r.writeBytes("old bytes"), mod.Add(-time.Hour))
	var info backend.ObjectInfo
	r.backends.beforeGet = func() { info = r.writeBytes("new bytes") }
	r.cl.beforeDelete = func() { r.commit(info, mod) }
	if err := r.g.removeObject(context.Background(), "b", "k"); err != nil {
		t.Fatalf("removeObject: %v", err)
	}
	if r.backends.beforeGet != nil || r.cl.beforeDelete != nil {
		t.Fatal("a hook did not fire: the delete did not run the steps this test interleaves with")
	}
	r.assertReadsDeleted("repair off")
	r.assertKept("after a delete and reads with the repair off", mod)
}
