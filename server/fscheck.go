package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stratagw/strata/admin"
	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/backend/pool"
	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/cluster/rpc"
)

// The marker proving an fs backend's directory is shared lives in the fs
// backend's temp directory (backend/fs keeps it at .strata/tmp and the
// add's probe has just created it): fs.New removes stale files there, so
// a marker a crash left behind is cleaned up eventually, and no bucket can
// ever be named like it.
const (
	markerDir    = ".strata/tmp"
	markerPrefix = "shared-check-"
	// markerTokenBytes is the random part of the marker's name and also
	// the size of its content.
	markerTokenBytes = 16
)

// fsCheckTimeout bounds one peer's answer: a node that does not answer
// within it is reported, so one dead node cannot hold the add up.
const fsCheckTimeout = 5 * time.Second

// fsOptions is the node's fs lockdown, the rule every fs path it opens is
// checked against.
func (s *Server) fsOptions() pool.Options {
	return pool.Options{FSLockdown: s.cfg.FSLockdown, FSAllowedRoots: s.allowedRoots()}
}

// checkSharedPath implements admin.SharedPathChecker: it writes a marker
// with random content under path and asks every other server of the raft
// configuration to read it. A single-node cluster needs no check. The
// marker is removed in every case.
func (s *Server) checkSharedPath(ctx context.Context, path string) error {
	servers, err := s.node.Servers(ctx)
	if err != nil {
		return fmt.Errorf("read the raft configuration: %w", err)
	}
	var peers []cluster.ServerInfo
	for _, sv := range servers {
		if sv.ID != s.cfg.NodeID {
			peers = append(peers, sv)
		}
	}
	if len(peers) == 0 {
		return nil
	}
	req, err := writeMarker(path)
	if err != nil {
		return err
	}
	defer s.removeMarker(req)
	if problems := s.askPeers(ctx, peers, req); len(problems) > 0 {
		return &admin.NotSharedError{Path: path, Problems: problems}
	}
	return nil
}

// writeMarker creates a new marker file under root, synced so that other
// hosts of a network filesystem see it once it is closed.
func writeMarker(root string) (rpc.FSCheck, error) {
	random := make([]byte, 2*markerTokenBytes)
	if _, err := rand.Read(random); err != nil {
		return rpc.FSCheck{}, fmt.Errorf("generate marker: %w", err)
	}
	req := rpc.FSCheck{
		Path:    root,
		Marker:  markerDir + "/" + markerPrefix + hex.EncodeToString(random[:markerTokenBytes]),
		Content: random[markerTokenBytes:],
	}
	name := markerFile(req)
	// 0644: the other nodes' processes may run as other users of the
	// shared filesystem.
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return rpc.FSCheck{}, fmt.Errorf("write marker: %w", err)
	}
	_, werr := f.Write(req.Content)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(name)
		return rpc.FSCheck{}, fmt.Errorf("write marker %s: %w", name, err)
	}
	return req, nil
}

// markerFile is the marker's path on this node.
func markerFile(req rpc.FSCheck) string {
	return filepath.Join(req.Path, filepath.FromSlash(req.Marker))
}

func (s *Server) removeMarker(req rpc.FSCheck) {
	if err := os.Remove(markerFile(req)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("remove the shared-path marker", "file", markerFile(req), "err", err)
	}
}

// askPeers asks every peer, in parallel, to read the marker and returns
// one problem per peer that did not, sorted by node id.
func (s *Server) askPeers(ctx context.Context, peers []cluster.ServerInfo, req rpc.FSCheck) []string {
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		problems []string
	)
	for _, sv := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, fsCheckTimeout)
			defer cancel()
			err := s.cnet.client.FSCheck(cctx, sv.Address, req)
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			problems = append(problems, peerProblem(sv, err))
		}()
	}
	wg.Wait()
	sort.Strings(problems)
	return problems
}

// peerProblem says what went wrong with one peer, in the operator's terms.
func peerProblem(sv cluster.ServerInfo, err error) string {
	var ce *rpc.FSCheckError
	switch {
	case errors.As(err, &ce):
		return fmt.Sprintf("node %s cannot read the marker (%s)", sv.ID, ce.Reason)
	case errors.Is(err, cluster.ErrNotSent):
		return fmt.Sprintf("node %s at %s is unreachable (%v); start it, or run `strata remove %s` if it is gone for good",
			sv.ID, sv.Address, err, sv.ID)
	}
	return fmt.Sprintf("node %s at %s did not answer the check (%v)", sv.ID, sv.Address, err)
}

// answerFSCheck is the receiving side: read the marker another node wrote,
// under this node's own fs lockdown, as if this node opened the backend.
func (s *Server) answerFSCheck(ctx context.Context, req rpc.FSCheck) error {
	if !filepath.IsAbs(req.Path) {
		return fmt.Errorf("path %q is not absolute", req.Path)
	}
	if !isMarker(req.Marker) {
		return fmt.Errorf("%q is not a strata marker name", req.Marker)
	}
	root := filepath.Clean(req.Path)
	if err := s.fsOptions().Allow(backend.Config{Type: "fs", Path: root}); err != nil {
		return err
	}
	return withContext(ctx, func() error { return compareMarker(root, markerFile(req), req.Content) })
}

// isMarker accepts exactly the names writeMarker makes, so a peer cannot
// have this node read anything else.
func isMarker(name string) bool {
	token, ok := strings.CutPrefix(name, markerDir+"/"+markerPrefix)
	if !ok || len(token) != 2*markerTokenBytes {
		return false
	}
	_, err := hex.DecodeString(token)
	return err == nil && strings.ToLower(token) == token
}

// withContext runs fn but stops waiting when ctx ends: a read on a hung
// network mount can block beyond any deadline, and the asking node must
// get an answer. fn then finishes (or not) on its own.
func withContext(ctx context.Context, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("reading the marker did not finish in time (a hung mount?): %w", ctx.Err())
	}
}

// compareMarker checks that name is a regular file holding want.
func compareMarker(root, name string, want []byte) error {
	if st, err := os.Stat(root); err != nil {
		return err
	} else if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", root)
	}
	st, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s exists but the marker %s does not: it is another directory", root, name)
	}
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("the marker %s is not a regular file", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := io.ReadAll(io.LimitReader(f, int64(len(want))+1))
	if err != nil {
		return fmt.Errorf("read the marker: %w", err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("the marker %s holds other content: it is another directory", name)
	}
	return nil
}
