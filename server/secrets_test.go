package server

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/internal/testenv"
)

// encodings are the forms a leaked secret could take on disk: clear,
// hex and base64 (JSON encodes []byte as base64).
func encodings(secret string) map[string][]byte {
	b := []byte(secret)
	return map[string][]byte{
		"clear":  b,
		"hex":    []byte(hex.EncodeToString(b)),
		"base64": []byte(base64.StdEncoding.EncodeToString(b)),
	}
}

// findInFiles returns "path (encoding)" for every regular file under root
// holding needle in any of its encodings. It reads whole files: test data
// directories are small. A running node replaces files (the peers file,
// old snapshots) while the walk goes on; a file gone meanwhile is skipped.
func findInFiles(t *testing.T, root, needle string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for enc, n := range encodings(needle) {
			if bytes.Contains(b, n) {
				hits = append(hits, path+" ("+enc+")")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return hits
}

// TestFindInFilesFindsPlantedSecret: the search below can fail — it finds a
// secret planted in a file, in every encoding, also inside binary data.
func TestFindInFilesFindsPlantedSecret(t *testing.T) {
	dir := t.TempDir()
	const secret = "planted-secret-0123456789"
	for enc, b := range encodings(secret) {
		data := append(append([]byte{0, 1, 2, 0xff}, b...), 0, 0)
		if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sub", enc+".bin"), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if hits := findInFiles(t, dir, secret); len(hits) != 3 {
		t.Fatalf("found %v, want the 3 planted files", hits)
	}
	if hits := findInFiles(t, dir, "not-there-at-all"); len(hits) != 0 {
		t.Fatalf("found %v", hits)
	}
}

// TestSecretsSealedOnDisk: the secret key of an s3 backend added through
// the admin API, and the admin secret key, appear nowhere in any node's
// data directory — not in raft.db (the log), not in the FSM's bbolt file,
// not in a snapshot — in clear, hex or base64. The backend's access key,
// which is stored in clear, is found in those same files: the search sees
// the records the secrets are part of.
func TestSecretsSealedOnDisk(t *testing.T) {
	gw := testenv.Versitygw(t)
	c := newCluster(t, 3, nil)
	ctx := ctxFor(t, time.Minute)
	be, err := c.nodes[1].admin().AddBackend(ctx, api.AddBackend{
		Name: "versity", Type: "s3", Endpoint: gw.Endpoint, Region: gw.Region, PathStyle: true,
		AccessKey: gw.AccessKey, SecretKey: gw.SecretKey,
	})
	if err != nil {
		t.Fatalf("add s3 backend: %v", err)
	}
	t.Logf("backend %s added with regions %v", be.Name, be.Regions)
	c.waitConverged(c.nodes...)
	for _, n := range c.nodes {
		if err := n.node().Snapshot(ctx); err != nil {
			t.Fatalf("snapshot on %s: %v", n.id(), err)
		}
	}
	for _, n := range c.nodes {
		snaps, _ := filepath.Glob(filepath.Join(n.cfg.DataDir, "raft", "snapshots", "*", "state.bin"))
		if len(snaps) == 0 {
			t.Fatalf("%s has no snapshot", n.id())
		}
		for _, f := range append(snaps, filepath.Join(n.cfg.DataDir, "raft", "raft.db"), filepath.Join(n.cfg.DataDir, "fsm", "state.db")) {
			if hits := findInFiles(t, f, gw.AccessKey); len(hits) == 0 {
				t.Errorf("the backend's access key (stored in clear) is not in %s: the search misses the records", f)
			}
		}
		for name, secret := range map[string]string{
			"backend secret key": gw.SecretKey, "admin secret key": n.cfg.AdminSecretKey,
		} {
			if hits := findInFiles(t, n.cfg.DataDir, secret); len(hits) != 0 {
				t.Errorf("%s of %s found on disk: %v", name, n.id(), hits)
			}
		}
	}
}
