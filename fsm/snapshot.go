package fsm

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// Snapshot implements raft.FSM. It opens a read transaction (cheap: no
// copy) that Persist streams to raft's sink; writes go on meanwhile. A
// failed FSM (see Fatal) refuses, because raft would drop log entries its
// state is missing.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.Fatal(); err != nil {
		return nil, fmt.Errorf("fsm: no snapshot of a failed state: %w", err)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil, fmt.Errorf("fsm: snapshot: %w", ErrClosed)
	}
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("fsm: snapshot: begin read transaction: %w", err)
	}
	return &snapshot{tx: tx}, nil
}

// snapshot is a point-in-time view of the state file.
type snapshot struct {
	tx   *bolt.Tx
	once sync.Once
}

// Persist implements raft.FSMSnapshot: the whole bbolt file as of the
// snapshot's transaction, which is itself a valid bbolt file.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.tx.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("fsm: persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("fsm: close snapshot sink: %w", err)
	}
	return nil
}

// Release implements raft.FSMSnapshot: it ends the read transaction.
func (s *snapshot) Release() {
	s.once.Do(func() { _ = s.tx.Rollback() })
}

// Restore implements raft.FSM: it replaces the whole state with the
// snapshot in rc. The stream is written to a temporary file next to the
// live one and checked; only then is it renamed over the live file and
// swapped in. Readers keep using the old file until the swap and never see
// a closed one. On any failure before the rename the live state is
// untouched.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp, err := f.receiveSnapshot(rc)
	if err != nil {
		return err
	}
	keep := false
	defer func() {
		if !keep {
			_ = os.Remove(tmp)
		}
	}()
	// Open and close it once: a stream that is not a bbolt file fails here.
	check, _, err := openDB(tmp)
	if err != nil {
		return fmt.Errorf("fsm: restore: snapshot is not a valid state file: %w", err)
	}
	if err := check.Close(); err != nil {
		return fmt.Errorf("fsm: restore: close checked snapshot: %w", err)
	}

	// The live file stays open (its handle keeps the old inode alive for
	// readers and for a snapshot still being persisted) while the new one
	// takes its name.
	if err := os.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("fsm: restore: replace %s: %w", f.path, err)
	}
	keep = true
	if err := syncDir(filepath.Dir(f.path)); err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	db, applied, err := openDB(f.path)
	if err != nil {
		f.setFatal(err)
		return fmt.Errorf("fsm: restore: reopen: %w", err)
	}

	f.mu.Lock()
	old := f.db
	f.db = db
	f.applied.Store(applied)
	f.fatal.Store(nil)
	f.mu.Unlock()
	f.retire(old)
	f.logger.Info("state restored from snapshot", "applied_index", applied)
	return nil
}

// receiveSnapshot drains rc into a synced temporary file beside the live
// state file and returns its path.
func (f *FSM) receiveSnapshot(rc io.Reader) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(f.path), filepath.Base(f.path)+".restore-*")
	if err != nil {
		return "", fmt.Errorf("fsm: restore: create temporary file: %w", err)
	}
	name := tmp.Name()
	fail := func(what string, err error) (string, error) {
		_ = tmp.Close()
		_ = os.Remove(name)
		return "", fmt.Errorf("fsm: restore: %s %s: %w", what, name, err)
	}
	n, err := io.Copy(tmp, rc)
	if err != nil {
		return fail("write", err)
	}
	if n == 0 {
		// bbolt would happily initialise an empty file as a new, empty
		// state: refuse instead of wiping everything.
		return fail("empty snapshot written to", io.ErrUnexpectedEOF)
	}
	if err := tmp.Sync(); err != nil {
		return fail("sync", err)
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(name)
		return "", fmt.Errorf("fsm: restore: close %s: %w", name, err)
	}
	return name, nil
}

// retire closes a replaced database once its last reader is done, without
// holding up the raft goroutine that called Restore.
func (f *FSM) retire(old *bolt.DB) {
	if old == nil {
		return
	}
	f.retiring.Add(1)
	go func() {
		defer f.retiring.Done()
		if err := old.Close(); err != nil {
			f.logger.Warn("closing the replaced state file failed", "error", err)
		}
	}()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
