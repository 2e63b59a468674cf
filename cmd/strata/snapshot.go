package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/config"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/iam"
	"github.com/stratagw/strata/internal/sealbox"
)

// snapshotCmd is `strata admin snapshot …`.
type snapshotCmd struct {
	Save snapshotSaveCmd `cmd:"" help:"Save a consistent copy of the cluster state (all metadata: backends, regions, buckets, object index, credentials) to FILE. Secrets in it stay sealed: restoring it needs the cluster key. Object bytes stay on the backends."`
}

// snapshotSaveCmd is `strata admin snapshot save FILE`.
type snapshotSaveCmd struct {
	File string `arg:"" name:"file" help:"Where to write the snapshot (replaced atomically; mode 0600)."`
}

// Run downloads the snapshot into a temporary file beside FILE, checks it,
// and only then gives it FILE's name, so FILE is either the old file or a
// complete, verified snapshot.
func (c *snapshotSaveCmd) Run(a *adminCmd, e env) error {
	cl, err := a.connect(e)
	if err != nil {
		return err
	}
	// No fixed timeout: a large state takes as long as it takes; Ctrl-C
	// stops it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tmp, err := os.CreateTemp(filepath.Dir(c.File), "."+filepath.Base(c.File)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", c.File, errors.Unwrap(err))
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	info, err := download(tmp, func(w io.Writer) (api.Snapshot, error) { return cl.Snapshot(ctx, w) })
	if err != nil {
		return err
	}
	if err := verifySnapshot(tmp.Name(), info); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), c.File); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := syncDir(filepath.Dir(c.File)); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return a.output(e, struct {
		api.Snapshot
		File string `json:"file"`
	}{info, c.File}, func(w io.Writer) {
		fmt.Fprintf(w, "snapshot of cluster %s at index %d saved to %s (%s)\n",
			info.ClusterID, info.AppliedIndex, c.File, humanBytes(info.Size))
	})
}

// download fills f (mode 0600) with get's output and makes it durable.
func download(f *os.File, get func(io.Writer) (api.Snapshot, error)) (api.Snapshot, error) {
	err := f.Chmod(0o600)
	var info api.Snapshot
	if err == nil {
		info, err = get(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("snapshot: %w", cerr)
	}
	if err != nil {
		return api.Snapshot{}, err
	}
	return info, nil
}

// verifySnapshot opens the downloaded file read-only as a state file and
// checks it is the snapshot the node described.
func verifySnapshot(path string, want api.Snapshot) error {
	got, err := fsm.InspectBackup(path)
	if err != nil {
		return fmt.Errorf("the downloaded snapshot does not check out: %w", err)
	}
	if got.ClusterID != want.ClusterID || got.AppliedIndex != want.AppliedIndex || got.Size != want.Size {
		return fmt.Errorf("the downloaded snapshot is of cluster %s at index %d (%d bytes), the node announced %s at %d (%d bytes)",
			got.ClusterID, got.AppliedIndex, got.Size, want.ClusterID, want.AppliedIndex, want.Size)
	}
	if got.AppliedIndex == 0 {
		return errors.New("the downloaded snapshot has applied index 0: it is not a node's live state")
	}
	return nil
}

// restoreCmd is `strata restore`.
type restoreCmd struct {
	DataDir        string `name:"data-dir" required:"" help:"New data directory of the node that will bootstrap the restored cluster (must hold no node state)."`
	ClusterKeyFile string `name:"cluster-key-file" help:"File with the base64 cluster key the snapshot was taken with (else env STRATA_CLUSTER_KEY, else <data-dir>/cluster.key)."`
	File           string `arg:"" name:"file" type:"existingfile" help:"Snapshot written by 'strata admin snapshot save'."`
}

// Run writes the state file of a new node from the snapshot. It refuses a
// data directory that already holds state and a key that does not open the
// snapshot's secrets; on any refusal the directory is left as it was.
func (c *restoreCmd) Run(e env) error {
	if err := refuseExistingState(c.DataDir); err != nil {
		return err
	}
	key, source, err := restoreKey(c.DataDir, c.ClusterKeyFile, e.getenv(config.ClusterKeyEnv))
	if err != nil {
		return err
	}
	box, err := sealbox.New(key)
	if err != nil {
		return err
	}
	in, err := os.Open(c.File)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer in.Close()
	var fsRoots []string
	info, err := fsm.ImportBackup(statePath(c.DataDir), in, func(f *fsm.FSM) error {
		if err := checkSecrets(f, box); err != nil {
			return err
		}
		fsRoots, err = fsBackendRoots(f)
		return err
	})
	if errors.Is(err, fsm.ErrNotBackup) {
		return fmt.Errorf("%s is not a strata snapshot: %w", c.File, err)
	}
	if err != nil {
		return err
	}
	printNextSteps(e.stdout, c, info, source, fsRoots)
	return nil
}

// statePath is where a node keeps its state file (server.openState).
func statePath(dataDir string) string { return filepath.Join(dataDir, "fsm", "state.db") }

// refuseExistingState fails when dataDir holds a node's raft state or state
// file: a restore starts a new node, it never overwrites one.
func refuseExistingState(dataDir string) error {
	for _, p := range []string{
		filepath.Join(dataDir, "raft", "raft.db"),
		filepath.Join(dataDir, "raft", "snapshots"),
		statePath(dataDir),
	} {
		_, err := os.Lstat(p)
		if err == nil {
			return fmt.Errorf("%s already holds a node's state (%s): restore only into a new, empty data directory", dataDir, p)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restore: %w", err)
		}
	}
	return nil
}

// restoreKey finds the cluster key as `strata server` would (env, then
// --cluster-key-file, then <data-dir>/cluster.key), so that the node started
// on the restored directory with the same settings uses the same key. It
// never generates one: a new key cannot open the snapshot.
func restoreKey(dataDir, file, envValue string) ([]byte, string, error) {
	if envValue != "" {
		k, err := sealbox.ParseKey(envValue)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", config.ClusterKeyEnv, err)
		}
		return k, "env " + config.ClusterKeyEnv, nil
	}
	explicit := file != ""
	if !explicit {
		file = filepath.Join(dataDir, config.ClusterKeyFileName)
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, "", fmt.Errorf("restore needs the cluster key the snapshot was taken with: set %s or --cluster-key-file", config.ClusterKeyEnv)
	}
	if err != nil {
		return nil, "", fmt.Errorf("cluster key file: %w", err)
	}
	k, err := sealbox.ParseKey(string(b))
	if err != nil {
		return nil, "", fmt.Errorf("cluster key file %s: %w", file, err)
	}
	return k, file, nil
}

// checkSecrets proves the key opens the snapshot's sealed credentials (the
// admin credential is always there).
func checkSecrets(f *fsm.FSM, box *sealbox.Box) error {
	creds, err := f.Credentials()
	if err != nil {
		return err
	}
	store := iam.NewStore(f, box)
	admin := false
	for _, c := range creds {
		_, _, _, err := store.Lookup(context.Background(), c.AccessKey)
		if errors.Is(err, sealbox.ErrOpen) {
			return fmt.Errorf("the cluster key does not open this snapshot's secrets (it was taken with another key): %w", err)
		}
		if err != nil {
			return fmt.Errorf("check credential %s: %w", c.AccessKey, err)
		}
		admin = admin || c.Admin
	}
	if !admin {
		return fmt.Errorf("%w: it holds no admin credential", fsm.ErrNotBackup)
	}
	return nil
}

// fsBackendRoots lists the directories of the snapshot's fs backends: the
// node started on the restored state must be allowed them (fs lockdown
// allows only <data-dir>/fs by default, and that is the new directory).
func fsBackendRoots(f *fsm.FSM) ([]string, error) {
	bes, err := f.Backends()
	if err != nil {
		return nil, err
	}
	var roots []string
	for _, b := range bes {
		if b.Type == "fs" {
			roots = append(roots, b.Path)
		}
	}
	return roots, nil
}

// printNextSteps tells the operator how to bring the restored cluster up.
func printNextSteps(w io.Writer, c *restoreCmd, info fsm.BackupInfo, keySource string, fsRoots []string) {
	flags := ""
	if c.ClusterKeyFile != "" {
		flags = " --cluster-key-file " + shellQuote(c.ClusterKeyFile)
	}
	for _, r := range fsRoots {
		flags += " --fs-allow " + shellQuote(r)
	}
	fmt.Fprintf(w, "restored cluster %s (snapshot at index %d, %s) into %s\n\n", info.ClusterID, info.AppliedIndex,
		humanBytes(info.Size), c.DataDir)
	fmt.Fprintf(w, "Next steps:\n")
	fmt.Fprintf(w, "  1. Start a node on it with the same cluster key (%s) — without one the node\n", keySource)
	fmt.Fprintf(w, "     would generate a new key that opens none of the restored secrets. It forms a\n")
	fmt.Fprintf(w, "     new one-node cluster with the restored state and a fresh raft log:\n")
	fmt.Fprintf(w, "       strata server --bootstrap --data-dir %s%s [other flags as before]\n", shellQuote(c.DataDir), flags)
	fmt.Fprintf(w, "  2. Add the other nodes with new, empty data directories and the same key:\n")
	fmt.Fprintf(w, "       strata server --data-dir NEW-DIR --join HOST-OF-NODE-1:%s ...\n", defaultGossipPort)
	fmt.Fprintf(w, "  3. Sign in with the snapshot's admin credential. Object bytes were never in the\n")
	fmt.Fprintf(w, "     snapshot: the backends (fs paths, s3 endpoints) must still hold them, and every\n")
	fmt.Fprintf(w, "     node must be allowed the fs backends' directories (--fs-allow, as above).\n")
	fmt.Fprintf(w, "     Stop the old cluster's nodes for good: the restored cluster keeps its id.\n")
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// characters that are safe unquoted.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=@+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// humanBytes renders a size for people (binary units).
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
