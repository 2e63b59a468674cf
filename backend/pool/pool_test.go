package pool_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/backend/fs"
	"github.com/stratagw/strata/backend/pool"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/internal/sealbox"
	"github.com/stratagw/strata/internal/testenv"
)

// state is a real FSM fed with log entries directly (no raft needed to
// produce backend records).
type state struct {
	*fsm.FSM
	t    *testing.T
	next uint64
}

func newState(t *testing.T) *state {
	f, err := fsm.Open(filepath.Join(t.TempDir(), "state.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("fsm.Open: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return &state{FSM: f, t: t, next: 1}
}

func (s *state) apply(ct fsm.CommandType, body any) {
	s.t.Helper()
	data, err := fsm.Encode(ct, body)
	if err != nil {
		s.t.Fatalf("Encode: %v", err)
	}
	res, ok := s.Apply(&raft.Log{Index: s.next, Term: 1, Type: raft.LogCommand, Data: data}).(fsm.Result)
	s.next++
	if !ok || res.Err != nil {
		s.t.Fatalf("Apply %s: %+v", ct, res)
	}
}

func (s *state) putBackend(b fsm.Backend) {
	s.apply(fsm.CmdPutBackend, fsm.PutBackend{
		Backend: b,
		Regions: []fsm.Region{{Name: "r-" + b.Name, Backings: []fsm.BackingRegion{{BackendID: b.ID, Region: "local"}}}},
	})
}

func newBox(t *testing.T) *sealbox.Box {
	key, err := sealbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sealbox.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	box, err := sealbox.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func TestLockdown(t *testing.T) {
	base := t.TempDir()
	allowed := filepath.Join(base, "allowed")
	other := filepath.Join(base, "other")
	evil := filepath.Join(base, "allowed-evil")
	for _, d := range []string{filepath.Join(allowed, "sub"), other, evil} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	linkOut := filepath.Join(allowed, "link-out") // inside the root, points outside
	linkIn := filepath.Join(other, "link-in")     // outside the root, points inside
	if err := os.Symlink(other, linkOut); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(allowed, "sub"), linkIn); err != nil {
		t.Fatal(err)
	}
	locked := pool.Options{FSLockdown: true, FSAllowedRoots: []string{allowed, filepath.Join(base, "missing-root")}}
	cases := []struct {
		name string
		opts pool.Options
		cfg  backend.Config
		ok   bool
	}{
		{"root itself", locked, fsCfg(allowed), true},
		{"under root", locked, fsCfg(filepath.Join(allowed, "sub")), true},
		{"unclean path under root", locked, fsCfg(allowed + "/sub/../sub/"), true},
		{"symlink from outside into root", locked, fsCfg(linkIn), true},
		{"outside", locked, fsCfg(other), false},
		{"dot-dot out of root", locked, fsCfg(allowed + "/../other"), false},
		{"symlink in root pointing out", locked, fsCfg(linkOut), false},
		{"sibling sharing the name prefix", locked, fsCfg(evil), false},
		{"relative path", locked, fsCfg("allowed/sub"), false},
		{"missing path", locked, fsCfg(filepath.Join(allowed, "nope")), false},
		{"empty path", locked, fsCfg(""), false},
		{"no roots at all", pool.Options{FSLockdown: true}, fsCfg(allowed), false},
		{"lockdown off", pool.Options{}, fsCfg(other), true},
		{"s3 is not affected", locked, backend.Config{Type: "s3", Endpoint: "http://127.0.0.1:1"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Allow(tc.cfg)
			if tc.ok && err != nil {
				t.Fatalf("Allow(%s) = %v, want allowed", tc.cfg, err)
			}
			if !tc.ok {
				if err == nil {
					t.Fatalf("Allow(%s) allowed it", tc.cfg)
				}
				if !strings.Contains(err.Error(), "--disable-fs-lockdown") || !strings.Contains(err.Error(), allowed) && len(tc.opts.FSAllowedRoots) > 0 {
					t.Fatalf("error does not name the allow-list and the flag: %v", err)
				}
			}
		})
	}
	// (*Pool).Open applies it too.
	p := pool.New(newState(t), nil, locked)
	t.Cleanup(p.Close)
	if _, err := p.Open(context.Background(), fsCfg(other)); err == nil {
		t.Fatal("Pool.Open opened a path outside the allow-list")
	}
	b, err := p.Open(context.Background(), fsCfg(allowed))
	if err != nil {
		t.Fatalf("Pool.Open(allowed): %v", err)
	}
	_ = b.Close()
}

func fsCfg(path string) backend.Config { return backend.Config{Type: "fs", Path: path} }

func TestOpenUnknownType(t *testing.T) {
	if _, err := pool.Open(context.Background(), backend.Config{Type: "tape"}); err == nil {
		t.Fatal("opened a backend of unknown type")
	}
}

func TestGetCachesAndReopens(t *testing.T) {
	st := newState(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	rec := fsm.Backend{ID: "be-000000000001", Name: "disk", Type: "fs", Path: dirA, CreatedAt: time.Unix(1, 0)}
	st.putBackend(rec)
	p := pool.New(st, nil, pool.Options{FSLockdown: true, FSAllowedRoots: []string{dirA, dirB}})
	t.Cleanup(p.Close)
	ctx := context.Background()

	// Concurrent first use: everyone gets the same open backend.
	const n = 16
	got := make([]backend.Backend, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := p.Get(ctx, rec.ID)
			if err != nil {
				t.Errorf("Get: %v", err)
			}
			got[i] = b
		}()
	}
	wg.Wait()
	for _, b := range got {
		if b != got[0] {
			t.Fatal("concurrent Gets returned different backends")
		}
	}
	if root := got[0].(*fs.Backend).Root(); root != mustResolve(t, dirA) {
		t.Fatalf("root = %s, want %s", root, dirA)
	}

	// The record changes (remove + put with the same id): reopened.
	st.apply(fsm.CmdRemoveBackend, fsm.RemoveBackend{Name: rec.Name})
	rec.Path = dirB
	st.putBackend(rec)
	b, err := p.Get(ctx, rec.ID)
	if err != nil {
		t.Fatalf("Get after change: %v", err)
	}
	if root := b.(*fs.Backend).Root(); root != mustResolve(t, dirB) {
		t.Fatalf("after the record changed root = %s, want %s", root, dirB)
	}
	again, _ := p.Get(ctx, rec.ID)
	if again != b {
		t.Fatal("unchanged record reopened the backend")
	}

	// The record is gone.
	st.apply(fsm.CmdRemoveBackend, fsm.RemoveBackend{Name: rec.Name})
	if _, err := p.Get(ctx, rec.ID); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get of a removed backend = %v, want ErrNotFound", err)
	}
}

func mustResolve(t *testing.T, p string) string {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGetRefusesLockedDownRecord(t *testing.T) {
	st := newState(t)
	rec := fsm.Backend{ID: "be-000000000002", Name: "outside", Type: "fs", Path: t.TempDir()}
	st.putBackend(rec)
	p := pool.New(st, nil, pool.Options{FSLockdown: true, FSAllowedRoots: []string{t.TempDir()}})
	t.Cleanup(p.Close)
	if _, err := p.Get(context.Background(), rec.ID); err == nil || !strings.Contains(err.Error(), "--disable-fs-lockdown") {
		t.Fatalf("Get of a record outside the allow-list = %v", err)
	}
}

func TestGetS3WithSealedSecret(t *testing.T) {
	srv := testenv.Versitygw(t)
	st := newState(t)
	box := newBox(t)
	id := "be-000000000003"
	sealed, err := box.Seal(pool.SecretLabel(id), []byte(srv.SecretKey))
	if err != nil {
		t.Fatal(err)
	}
	st.putBackend(fsm.Backend{
		ID: id, Name: "vgw", Type: "s3", Endpoint: srv.Endpoint, Region: srv.Region,
		PathStyle: true, AccessKey: srv.AccessKey, SecretSealed: sealed,
	})
	ctx := context.Background()
	p := pool.New(st, box, pool.Options{FSLockdown: true})
	t.Cleanup(p.Close)
	b, err := p.Get(ctx, id)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if err := b.Check(ctx); err != nil {
		t.Fatalf("Check with the unsealed secret: %v", err)
	}

	// Another cluster key cannot open it, and says so without the secret.
	other := pool.New(st, newBox(t), pool.Options{})
	t.Cleanup(other.Close)
	_, err = other.Get(ctx, id)
	if !errors.Is(err, sealbox.ErrOpen) {
		t.Fatalf("Get with the wrong cluster key = %v, want sealbox.ErrOpen", err)
	}
	if strings.Contains(err.Error(), srv.SecretKey) {
		t.Fatal("error message contains the secret")
	}
	noKey := pool.New(st, nil, pool.Options{})
	t.Cleanup(noKey.Close)
	if _, err := noKey.Get(ctx, id); err == nil {
		t.Fatal("Get without a cluster key opened a sealed backend")
	}
}

func TestClosedPool(t *testing.T) {
	st := newState(t)
	rec := fsm.Backend{ID: "be-000000000004", Name: "disk", Type: "fs", Path: t.TempDir()}
	st.putBackend(rec)
	p := pool.New(st, nil, pool.Options{})
	if _, err := p.Get(context.Background(), rec.ID); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if _, err := p.Get(context.Background(), rec.ID); err == nil {
		t.Fatal("Get on a closed pool succeeded")
	}
}
