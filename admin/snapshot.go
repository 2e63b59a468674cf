package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/fsm"
)

// Backuper is a state that can copy itself (*fsm.FSM): a consistent copy of
// the state file in an anonymous temporary file, at offset 0.
type Backuper interface {
	Backup() (*os.File, fsm.BackupInfo, error)
}

// Snapshot returns a consistent copy of this node's state after a strong
// read barrier, so it holds every write acknowledged before the call, on
// whichever node it was made. The caller closes the file. Secrets in it
// stay sealed with the cluster key. A State that is not a Backuper answers
// 501.
func (s *Service) Snapshot(ctx context.Context) (*os.File, fsm.BackupInfo, error) {
	b, ok := s.d.State.(Backuper)
	if !ok {
		return nil, fsm.BackupInfo{}, errf(http.StatusNotImplemented, api.CodeNotImplemented, "this node cannot take snapshots")
	}
	if err := s.d.Cluster.ReadBarrier(ctx); err != nil {
		return nil, fsm.BackupInfo{}, fmt.Errorf("snapshot: read barrier: %w", err)
	}
	f, info, err := b.Backup()
	if errors.Is(err, fsm.ErrNotInitialized) {
		return nil, fsm.BackupInfo{}, errf(http.StatusServiceUnavailable, api.CodeNotReady, "the cluster is not initialised yet: nothing to snapshot")
	}
	if err != nil {
		return nil, fsm.BackupInfo{}, fmt.Errorf("snapshot: %w", err)
	}
	s.log.Info("snapshot taken", "cluster_id", info.ClusterID, "applied_index", info.AppliedIndex, "size", info.Size)
	return f, info, nil
}

// snapshotRoutes registers GET /v1/snapshot, which streams a file rather
// than answering JSON.
func (h *Handler) snapshotRoutes() {
	const pattern = "/v1/snapshot"
	h.mux.HandleFunc(http.MethodGet+" "+pattern, h.snapshot)
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, h.log, r, errf(http.StatusMethodNotAllowed, api.CodeMethodNotAllowed,
			"%s is not allowed on %s", r.Method, r.URL.Path))
	})
}

// snapshot streams the state file with its description in headers and its
// SHA-256 in a trailer, so the client can tell a complete copy from one cut
// off mid-way.
func (h *Handler) snapshot(w http.ResponseWriter, r *http.Request) {
	if _, err := h.authenticate(r); err != nil {
		writeError(w, h.log, r, err)
		return
	}
	f, info, err := h.d.Service.Snapshot(r.Context())
	if err != nil {
		writeError(w, h.log, r, err)
		return
	}
	defer f.Close()
	hdr := w.Header()
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="strata-%s-%d.db"`, info.ClusterID, info.AppliedIndex))
	hdr.Set("Cache-Control", "no-store")
	hdr.Set(api.HeaderSnapshotIndex, strconv.FormatUint(info.AppliedIndex, 10))
	hdr.Set(api.HeaderSnapshotCluster, info.ClusterID)
	hdr.Set(api.HeaderSnapshotSize, strconv.FormatInt(info.Size, 10))
	hdr.Set("Trailer", api.TrailerSnapshotSHA256)
	w.WriteHeader(http.StatusOK)
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, sum), f)
	if err != nil || n != info.Size {
		// Too late for an error answer: without the trailer the client
		// knows the copy is incomplete.
		h.log.Warn("snapshot download ended early", "remote", r.RemoteAddr, "sent", n, "size", info.Size, "err", err)
		return
	}
	hdr.Set(api.TrailerSnapshotSHA256, hex.EncodeToString(sum.Sum(nil)))
}
