// Package fsm owns strata's replicated state: the typed command format
// (command.go, types.go), the apply functions that turn committed raft log
// entries into state changes, and that state itself in one bbolt file per
// node. It implements raft.BatchingFSM (Apply, ApplyBatch, Snapshot,
// Restore) and the read side, fsm.Reader.
//
// The package must stay deterministic: an apply function reads nothing but
// its command and the bbolt transaction it runs in — no clock, no random
// numbers, no I/O other than its own file. Submitters fill in timestamps and
// generated ids before they submit. See DESIGN.md for the storage layout and
// its trade-offs.
package fsm

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrClosed is returned by reads after Close (or after a Restore that could
// not reopen the state file).
var ErrClosed = errors.New("fsm: state is closed")

// ErrFatal marks a local failure of the FSM's own bbolt file (disk full, I/O
// error). It is never a property of the command: the same entry succeeds
// on the other nodes. See (*FSM).Fatal.
var ErrFatal = errors.New("fsm: local state failure")

// openTimeout bounds how long Open waits for bbolt's file lock, so a second
// process on the same data directory fails fast instead of hanging.
const openTimeout = 2 * time.Second

// FSM is the replicated state machine on bbolt. Apply, ApplyBatch, Snapshot
// and Restore are called by raft from one goroutine; the read methods are
// safe for concurrent use with them and with each other.
type FSM struct {
	path   string
	logger *slog.Logger

	// mu guards the db pointer, not the data: readers hold it (shared) only
	// for the length of one short View transaction so that Restore can swap
	// the file without anyone using a closed handle.
	mu sync.RWMutex
	db *bolt.DB

	// applied mirrors the index stored in the meta bucket.
	applied atomic.Uint64
	// fatal holds the first local I/O failure of an apply; while set, every
	// apply fails and Snapshot refuses (see Fatal).
	fatal atomic.Pointer[error]

	// retiring counts databases replaced by Restore that are closed in the
	// background once their last reader (a snapshot being persisted) ends.
	retiring sync.WaitGroup

	handlers map[CommandType]applyFunc
}

// Open opens (or creates) the state file at path. A second Open of the same
// file, from this or another process, fails after a short timeout.
func Open(path string, logger *slog.Logger) (*FSM, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("fsm: create directory for %s: %w", path, err)
	}
	db, applied, err := openDB(path)
	if err != nil {
		return nil, err
	}
	f := &FSM{path: path, logger: logger.With("component", "fsm"), db: db}
	f.applied.Store(applied)
	f.registerAll()
	return f, nil
}

// openDB opens a bbolt file, makes sure every top-level bucket exists and
// returns the stored applied index.
func openDB(path string) (*bolt.DB, uint64, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        openTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, 0, fmt.Errorf("fsm: open %s: file is locked by another process (is another strata using this data directory?): %w", path, err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("fsm: open %s: %w", path, err)
	}
	var applied uint64
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range topBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		applied = readApplied(tx)
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, 0, fmt.Errorf("fsm: initialise %s: %w", path, err)
	}
	return db, applied, nil
}

// Close closes the state file. Reads afterwards return ErrClosed.
func (f *FSM) Close() error {
	f.mu.Lock()
	db := f.db
	f.db = nil
	f.mu.Unlock()
	f.retiring.Wait()
	if db == nil {
		return nil
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("fsm: close %s: %w", f.path, err)
	}
	return nil
}

// Path is the state file's location.
func (f *FSM) Path() string { return f.path }

// AppliedIndex is the raft index of the last command whose effect is in the
// state. Entries that never reach the FSM (raft no-ops, barriers,
// configuration changes) do not move it.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// Fatal returns the local I/O failure that stopped this FSM, or nil. Once an
// apply transaction failed on the local disk the node's state no longer
// follows the log: every later apply returns an error wrapping ErrFatal
// (instead of a Result) and Snapshot refuses, so raft never compacts the
// entries the state is missing. The stored applied index still names the
// last entry that really is in the file, so a restart (or a Restore from
// the leader) replays from there. The cluster should report the node not
// ready while Fatal is non-nil.
func (f *FSM) Fatal() error {
	if p := f.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

func (f *FSM) setFatal(err error) {
	wrapped := fmt.Errorf("%w: %w", ErrFatal, err)
	if f.fatal.CompareAndSwap(nil, &wrapped) {
		f.logger.Error("local state failure; this node stops applying the raft log until restarted or restored", "error", err)
	}
}

// view runs fn in one read transaction of the current state file.
func (f *FSM) view(fn func(*bolt.Tx) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return ErrClosed
	}
	return f.db.View(fn)
}
