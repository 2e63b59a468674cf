package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Backups are the operator's copy of the state (`strata admin snapshot
// save`, `strata restore`). They are the same bytes raft's snapshots hold —
// a bbolt file written from one read transaction — so secrets in them stay
// sealed with the cluster key. What differs is the way back in: a restore
// starts a new cluster whose raft log begins at index 1, so the imported
// state must not claim to have applied the old log's entries.

// ErrNotBackup means a file or stream is not a strata state file of an
// initialised cluster.
var ErrNotBackup = errors.New("not a strata state backup")

// ErrNotInitialized means the state has no cluster yet: there is nothing
// worth backing up.
var ErrNotInitialized = errors.New("fsm: the cluster is not initialised")

// BackupInfo describes a backup (or any state file).
type BackupInfo struct {
	// AppliedIndex is the raft index of the last command in the state.
	AppliedIndex uint64
	// ClusterID is the id of the cluster the state belongs to.
	ClusterID string
	// Size is the length of the file in bytes.
	Size int64
}

// Backup writes a consistent point-in-time copy of the state to an
// anonymous temporary file beside the state file and returns it open, at
// offset 0, with its description; the caller streams it and closes it (the
// file has no name, so nothing is left behind, even by a crash). Writes to
// the FSM go on meanwhile. The copy is taken at disk speed instead of
// streaming the read transaction to a client: a long read transaction keeps
// bbolt from growing its memory map, which would stall every write for as
// long as a slow download lasts. Backup refuses a failed FSM (its state no
// longer follows the log) and a state without a cluster.
func (f *FSM) Backup() (*os.File, BackupInfo, error) {
	if err := f.Fatal(); err != nil {
		return nil, BackupInfo{}, fmt.Errorf("fsm: no backup of a failed state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), "."+filepath.Base(f.path)+".backup-*")
	if err != nil {
		return nil, BackupInfo{}, fmt.Errorf("fsm: backup: create temporary file: %w", err)
	}
	// Unlinked at once: the open file is all that remains.
	if err := os.Remove(tmp.Name()); err != nil {
		_ = tmp.Close()
		return nil, BackupInfo{}, fmt.Errorf("fsm: backup: %w", err)
	}
	info, err := f.copyTo(tmp)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		_ = tmp.Close()
		return nil, BackupInfo{}, err
	}
	return tmp, info, nil
}

// copyTo writes the state as of one read transaction to w.
func (f *FSM) copyTo(w io.Writer) (BackupInfo, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return BackupInfo{}, fmt.Errorf("fsm: backup: %w", ErrClosed)
	}
	var info BackupInfo
	err := f.db.View(func(tx *bolt.Tx) error {
		var err error
		if info, err = describe(tx); err != nil {
			if errors.Is(err, ErrNotBackup) {
				return ErrNotInitialized
			}
			return err
		}
		if _, err := tx.WriteTo(w); err != nil {
			return fmt.Errorf("fsm: backup: write copy: %w", err)
		}
		return nil
	})
	return info, err
}

// describe reads what identifies a state: the applied index and the cluster
// id. A file without strata's meta bucket or cluster config is not one.
func describe(tx *bolt.Tx) (BackupInfo, error) {
	if tx.Bucket(bktMeta) == nil {
		return BackupInfo{}, fmt.Errorf("%w: it has no %q bucket", ErrNotBackup, bktMeta)
	}
	cfg, ok, err := loadConfig(tx)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("%w: %w", ErrNotBackup, err)
	}
	if !ok || cfg.ClusterID == "" {
		return BackupInfo{}, fmt.Errorf("%w: it holds no initialised cluster", ErrNotBackup)
	}
	return BackupInfo{AppliedIndex: readApplied(tx), ClusterID: cfg.ClusterID, Size: tx.Size()}, nil
}

// InspectBackup opens the file at path read-only, checks that it is a
// consistent bbolt file holding an initialised strata cluster, and
// describes it. It never changes the file.
func InspectBackup(path string) (BackupInfo, error) {
	if err := checkFileSize(path); err != nil {
		return BackupInfo{}, fmt.Errorf("fsm: backup %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: openTimeout})
	if err != nil {
		return BackupInfo{}, fmt.Errorf("fsm: open backup %s: %w", path, notBackup(err))
	}
	defer db.Close()
	var info BackupInfo
	err = db.View(func(tx *bolt.Tx) error {
		if err := checkPages(tx); err != nil {
			return err
		}
		info, err = describe(tx)
		return err
	})
	if err != nil {
		return BackupInfo{}, fmt.Errorf("fsm: backup %s: %w", path, err)
	}
	return info, nil
}

// checkPages runs bbolt's consistency check over every page, so a
// truncated or corrupted copy is found now, not at the first read of the
// damaged page.
func checkPages(tx *bolt.Tx) error {
	var errs []error
	for err := range tx.Check() { // drained to the end: the checker blocks on each send
		if len(errs) < 5 {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: the file is damaged: %w", ErrNotBackup, errors.Join(errs...))
	}
	return nil
}

// notBackup marks bbolt's refusals of a file that is not a database (or a
// damaged one) with ErrNotBackup; other errors (permissions) stay as they
// are.
func notBackup(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNotBackup, err)
}

// ImportBackup creates the state file at path from the backup in r, for a
// node that will bootstrap a new cluster with it. The copy is written next
// to path, checked (a consistent bbolt file of an initialised cluster),
// given an applied index of 0 — the new cluster's log starts at 1 and
// every entry of it must be applied — and handed to check (nil: none),
// which may refuse it (for example because the cluster key does not open
// its secrets). Only then does it appear at path, atomically. An existing
// file at path is never replaced: ImportBackup fails with an error wrapping
// fs.ErrExist. The returned info describes the backup as it was read (its
// original applied index).
func ImportBackup(path string, r io.Reader, check func(*FSM) error) (BackupInfo, error) {
	if _, err := os.Lstat(path); err == nil {
		return BackupInfo{}, fmt.Errorf("fsm: import backup: %s: %w", path, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return BackupInfo{}, fmt.Errorf("fsm: import backup: %w", err)
	}
	dir := filepath.Dir(path)
	created, err := mkdirs(dir)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("fsm: import backup: %w", err)
	}
	done := false
	defer func() {
		if !done {
			removeEmpty(created)
		}
	}()
	tmp, err := receiveBackup(dir, filepath.Base(path), r)
	if err != nil {
		return BackupInfo{}, err
	}
	defer os.Remove(tmp) // after the link, only the temporary name goes
	info, err := resetBackup(tmp)
	if err != nil {
		return BackupInfo{}, err
	}
	if check != nil {
		if err := checkState(tmp, check); err != nil {
			return BackupInfo{}, err
		}
	}
	// A hard link, unlike a rename, fails when path appeared meanwhile.
	if err := os.Link(tmp, path); err != nil {
		return BackupInfo{}, fmt.Errorf("fsm: import backup: %w", err)
	}
	done = true
	if err := syncDir(dir); err != nil {
		return BackupInfo{}, fmt.Errorf("fsm: import backup: %w", err)
	}
	return info, nil
}

// mkdirs creates dir and its missing parents (mode 0700) and returns the
// directories it created, deepest first.
func mkdirs(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return missing, nil
}

// removeEmpty removes directories mkdirs created, so a refused import
// leaves nothing behind; one that is no longer empty stays.
func removeEmpty(dirs []string) {
	for _, d := range dirs {
		if os.Remove(d) != nil {
			return
		}
	}
}

// receiveBackup copies r into a synced temporary file in dir and returns
// its name.
func receiveBackup(dir, base string, r io.Reader) (string, error) {
	f, err := os.CreateTemp(dir, "."+base+".import-*")
	if err != nil {
		return "", fmt.Errorf("fsm: import backup: create temporary file: %w", err)
	}
	name := f.Name()
	n, err := io.Copy(f, r)
	if err == nil && n == 0 {
		err = fmt.Errorf("%w: it is empty", ErrNotBackup)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(name)
		return "", fmt.Errorf("fsm: import backup: write %s: %w", name, err)
	}
	return name, nil
}

// resetBackup validates the copy at path and sets its applied index to 0
// (and creates top-level buckets an older backup lacks), in one
// transaction. It returns the backup's original description.
func resetBackup(path string) (BackupInfo, error) {
	if err := checkFileSize(path); err != nil {
		return BackupInfo{}, fmt.Errorf("fsm: import backup: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout})
	if err != nil {
		return BackupInfo{}, fmt.Errorf("fsm: import backup: %w", notBackup(err))
	}
	var info BackupInfo
	err = db.Update(func(tx *bolt.Tx) error {
		if err := checkPages(tx); err != nil {
			return err
		}
		if info, err = describe(tx); err != nil {
			return err
		}
		for _, name := range topBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return writeApplied(tx, 0)
	})
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return BackupInfo{}, fmt.Errorf("fsm: import backup: %w", err)
	}
	return info, nil
}

// checkState opens the state at path as an FSM and hands it to check.
func checkState(path string, check func(*FSM) error) error {
	f, err := Open(path, slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("fsm: import backup: %w", err)
	}
	err = check(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		return fmt.Errorf("fsm: import backup: %w", cerr)
	}
	return err
}

// Credentials lists every credential in access key order (restore checks
// that the cluster key opens their sealed secrets).
func (f *FSM) Credentials() ([]Credential, error) {
	var out []Credential
	err := f.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bktCredentials).ForEach(func(_, v []byte) error {
			var c Credential
			if err := decodeRecord(v, &c); err != nil {
				return err
			}
			c.CreatedAt = c.CreatedAt.UTC()
			out = append(out, c)
			return nil
		})
	})
	return out, wrapRead("credentials", err)
}

// bbolt's meta page layout (go.etcd.io/bbolt/internal/common): a 16-byte
// page header, then magic, version, page size, flags (4 bytes each), the
// root bucket (16), the freelist page id, the high-water page id, the
// transaction id and an FNV-64a checksum of everything before it (8 each),
// in the machine's byte order (little-endian on every platform strata is
// built for).
const (
	boltMagic       = 0xED0CDAED
	boltPageHeader  = 16
	boltMetaSumAt   = 56 // offset of the checksum inside the meta
	boltMetaSize    = boltMetaSumAt + 8
	boltDefaultPage = 4096
)

// boltMeta is the part of a bbolt meta page checkFileSize needs.
type boltMeta struct {
	pageSize uint32
	pgid     uint64 // high-water mark: pages [0, pgid) are in the file
	txid     uint64
}

// parseBoltMeta decodes a meta page; ok is false when it is not a valid
// one (wrong magic or checksum).
func parseBoltMeta(page []byte) (boltMeta, bool) {
	if len(page) < boltPageHeader+boltMetaSize {
		return boltMeta{}, false
	}
	m := page[boltPageHeader : boltPageHeader+boltMetaSize]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:boltMetaSumAt])
	if h.Sum64() != le.Uint64(m[boltMetaSumAt:]) {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: le.Uint32(m[8:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, true
}

// checkFileSize refuses a file shorter than its own meta page says it is.
// bbolt maps the file and would read past its end — a SIGBUS that kills
// the process — when a copy was cut short.
func checkFileSize(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	read := func(off int64) (boltMeta, bool) {
		buf := make([]byte, boltPageHeader+boltMetaSize)
		if _, err := f.ReadAt(buf, off); err != nil {
			return boltMeta{}, false
		}
		return parseBoltMeta(buf)
	}
	m0, ok0 := read(0)
	pageSize := int64(boltDefaultPage)
	if ok0 {
		pageSize = int64(m0.pageSize)
	}
	m1, ok1 := read(pageSize)
	var m boltMeta
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		m = m1
	case ok0:
		m = m0
	default:
		return fmt.Errorf("%w: it is not a bbolt file (no valid meta page)", ErrNotBackup)
	}
	if m.pageSize == 0 || m.pgid > uint64(st.Size())/uint64(m.pageSize) {
		return fmt.Errorf("%w: it is cut short: %d bytes, but its pages need %d", ErrNotBackup,
			st.Size(), m.pgid*uint64(m.pageSize))
	}
	return nil
}
