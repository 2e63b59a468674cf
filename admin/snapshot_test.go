package admin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/admin/client"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/server"
)

func TestSnapshotDownload(t *testing.T) {
	n := startNode(t)
	view, err := n.client.Cluster(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	info, err := n.client.Snapshot(ctxT(t), &buf)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	if info.ClusterID != view.ClusterID || info.AppliedIndex == 0 || info.Size != int64(buf.Len()) ||
		info.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("Snapshot info %+v for %d bytes (cluster %s)", info, buf.Len(), view.ClusterID)
	}

	// The body is the state file: it opens, names the same cluster and
	// index, and holds the development backend.
	path := filepath.Join(t.TempDir(), "snap.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := fsm.InspectBackup(path)
	if err != nil || got.ClusterID != info.ClusterID || got.AppliedIndex != info.AppliedIndex || got.Size != info.Size {
		t.Fatalf("InspectBackup = %+v, %v; want %+v", got, err, info)
	}
	_, err = fsm.ImportBackup(filepath.Join(t.TempDir(), "state.db"), bytes.NewReader(buf.Bytes()), func(f *fsm.FSM) error {
		if _, ok, err := f.BackendByName(server.DevBackendName); !ok || err != nil {
			t.Errorf("the snapshot lacks the dev backend: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A change is in the next snapshot (the read barrier runs first).
	if _, err := n.client.AddBackend(ctxT(t), api.AddBackend{Name: "second", Type: "fs", Path: n.allowed}); err != nil {
		t.Fatal(err)
	}
	info2, err := n.client.Snapshot(ctxT(t), &bytes.Buffer{})
	if err != nil || info2.AppliedIndex <= info.AppliedIndex {
		t.Fatalf("second Snapshot: %+v, %v (first at %d)", info2, err, info.AppliedIndex)
	}
}

func TestSnapshotRefused(t *testing.T) {
	n := startNode(t)
	wrong, err := client.New(n.srv.AdminURL(), adminAK, "not-the-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	anonymous, err := client.New(n.srv.AdminURL(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*client.Client{"wrong secret": wrong, "unsigned": anonymous} {
		var buf bytes.Buffer
		_, err := c.Snapshot(ctxT(t), &buf)
		apiErr(t, err, http.StatusForbidden, api.CodeAccessDenied)
		if buf.Len() != 0 {
			t.Fatalf("%s: %d bytes of state handed out", name, buf.Len())
		}
	}

	req, err := n.client.NewRequest(ctxT(t), http.MethodPost, "/v1/snapshot", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
		t.Fatalf("POST /v1/snapshot: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestSnapshotWithoutCluster: a node that is not in a cluster hands out
// nothing.
func TestSnapshotWithoutCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := server.Start(ctx, server.Config{
		NodeID: "n1", DataDir: t.TempDir(),
		S3Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0",
		ClusterKey:     []byte("0123456789abcdef0123456789abcdef"),
		AdminAccessKey: adminAK, AdminSecretKey: adminSK,
		ApplyTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := client.New(srv.AdminURL(), adminAK, adminSK)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err = c.Snapshot(ctxT(t), &buf)
	apiErr(t, err, http.StatusServiceUnavailable, api.CodeNotReady)
	if buf.Len() != 0 {
		t.Fatalf("%d bytes handed out", buf.Len())
	}
}

// TestSnapshotClientChecksIntegrity drives the client against answers a
// real node only gives when something broke: a body cut short, a missing
// or wrong checksum trailer.
func TestSnapshotClientChecksIntegrity(t *testing.T) {
	body := bytes.Repeat([]byte("state "), 1000)
	sum := sha256.Sum256(body)
	for _, tc := range []struct {
		name    string
		send    []byte
		trailer string
		want    string
	}{
		{"whole", body, hex.EncodeToString(sum[:]), ""},
		{"cut short", body[:100], hex.EncodeToString(sum[:]), "got 100 bytes, the node announced 6000"},
		{"no trailer", body, "", "did not finish sending it"},
		{"wrong checksum", body, strings.Repeat("0", 64), "SHA-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set(api.HeaderSnapshotCluster, "c-1")
				w.Header().Set(api.HeaderSnapshotIndex, "42")
				w.Header().Set(api.HeaderSnapshotSize, strconv.Itoa(len(body)))
				w.Header().Set("Trailer", api.TrailerSnapshotSHA256)
				_, _ = w.Write(tc.send)
				if tc.trailer != "" {
					w.Header().Set(api.TrailerSnapshotSHA256, tc.trailer)
				}
			}))
			defer srv.Close()
			c, err := client.New(srv.URL, adminAK, adminSK)
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.Snapshot(ctxT(t), &bytes.Buffer{})
			if tc.want == "" {
				if err != nil || info.ClusterID != "c-1" || info.AppliedIndex != 42 || info.Size != int64(len(body)) {
					t.Fatalf("Snapshot = %+v, %v", info, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Snapshot error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
