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
	"testing"
	"time"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/backend/fs"
	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/fsm"
)

// These tests put another node's write between the steps of a delete:
// the gateway runs on a real single raft node, real FSM and fs backend;
// the "other node" writes the backend and commits through the same raft
// node, at the moment a hook fires inside removeObject.

const (
	raceBackendID = "be-000000000001"
	raceBacking   = "b-backing"
)

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
}

func newRaceRig(t *testing.T) *raceRig {
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
	be, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := be.CreateBucket(ctx, "local", raceBacking); err != nil {
		t.Fatal(err)
	}
	r := &raceRig{t: t, node: node, state: state, cl: &hookCluster{Node: node}, backends: &hookBackends{be: be}}
	r.g, err = New(Config{}, Deps{State: state, Cluster: r.cl, Backends: r.backends, Credentials: noCredentials{}, Logger: logger})
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

// TestDeleteInterleavedWithWrite runs a DELETE of b/k with another node's
// write of the key at each point between the delete's steps, and checks
// the outcome the linearization in object_delete.go promises: the write's
// effect is at its backend step, the delete's at its backend delete.
func TestDeleteInterleavedWithWrite(t *testing.T) {
	old := time.Now().UTC().Add(-time.Minute)
	newer := old.Add(time.Second)
	tests := []struct {
		name string
		// body of the concurrent write; "" means none.
		body string
		// writeFirst: the write's backend step comes before the
		// delete's (Bw Ad Bc Ac), else after it (Ad Bw Bc Ac).
		writeFirst bool
		// commitLast: the write commits after the delete did (Ad Bw Ac Bc).
		commitLast bool
		// want is the GET after both: the body, or "" for NoSuchKey.
		want       string
		wantRecord bool
	}{
		{name: "no concurrent write", want: ""},
		{name: "Ad Bw Bc Ac: the write survives", body: "new bytes", want: "new bytes", wantRecord: true},
		{name: "Ad Bw Bc Ac with the same bytes: the write survives", body: "old bytes", want: "old bytes", wantRecord: true},
		{name: "Bw Ad Bc Ac: the delete comes last", body: "new bytes", writeFirst: true, want: "", wantRecord: true},
		{name: "Ad Bw Ac Bc: the write comes last", body: "new bytes", commitLast: true, want: "new bytes", wantRecord: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRaceRig(t)
			r.commit(r.writeBytes("old bytes"), old)
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
			rec, ok, err := r.state.Object("b", "k")
			if err != nil || ok != tc.wantRecord {
				t.Fatalf("record after: %+v, %v, %v; want present=%v", rec, ok, err, tc.wantRecord)
			}
			if ok && !rec.ModTime.Equal(newer) {
				t.Errorf("record after has ModTime %v, want the concurrent write's %v", rec.ModTime, newer)
			}
		})
	}
}
