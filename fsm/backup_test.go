package fsm

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// backupBytes takes a backup of f and checks that its info describes it
// and that it leaves no file behind.
func backupBytes(t *testing.T, f *FSM) ([]byte, BackupInfo) {
	t.Helper()
	file, info, err := f.Backup()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		t.Fatalf("read backup: %v", err)
	}
	if info.Size != int64(len(data)) {
		t.Fatalf("backup has %d bytes, Info says %d", len(data), info.Size)
	}
	if ents, _ := os.ReadDir(filepath.Dir(f.Path())); len(ents) != 1 {
		t.Fatalf("the backup left files beside the state: %v", ents)
	}
	return data, info
}

func TestBackupImportResetsAppliedIndex(t *testing.T) {
	src := richState(t)
	data, info := backupBytes(t, src.FSM)
	want := BackupInfo{AppliedIndex: src.AppliedIndex(), ClusterID: "c-1", Size: int64(len(data))}
	if info != want || info.AppliedIndex < 100 {
		t.Fatalf("Info = %+v, want %+v", info, want)
	}

	path := filepath.Join(t.TempDir(), "fsm", "state.db")
	var checked bool
	got, err := ImportBackup(path, bytes.NewReader(data), func(f *FSM) error {
		checked = true
		creds, err := f.Credentials()
		if err != nil || len(creds) != 1 || creds[0].AccessKey != adminKey {
			t.Errorf("Credentials in check = %+v, %v", creds, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ImportBackup: %v", err)
	}
	if !checked {
		t.Fatal("check was not called")
	}
	if got.AppliedIndex != want.AppliedIndex || got.ClusterID != want.ClusterID {
		t.Fatalf("ImportBackup info = %+v, want %+v", got, want)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("imported file: %v, %v", st, err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("left behind in the state dir: %v", ents)
	}

	inspected, err := InspectBackup(path)
	if err != nil || inspected.AppliedIndex != 0 || inspected.ClusterID != "c-1" || inspected.Size != st.Size() {
		t.Fatalf("InspectBackup(imported) = %+v, %v", inspected, err)
	}

	dst := openTestFSM(t, path)
	if dst.AppliedIndex() != 0 {
		t.Fatalf("AppliedIndex after import = %d, want 0", dst.AppliedIndex())
	}
	if dumpState(t, dst.FSM) != dumpState(t, src.FSM) {
		t.Fatal("imported state differs from the source")
	}
	// A new cluster's log starts at 1: its first entries must take effect,
	// not be skipped as already applied.
	res := dst.Apply(entry(t, 3, CmdCreateBucket, createBucket("b2", region, backendID))).(Result)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if _, ok, _ := dst.Bucket("b2"); !ok || dst.AppliedIndex() != 3 {
		t.Fatalf("entry 3 of the new log was not applied (applied index %d)", dst.AppliedIndex())
	}
}

func TestImportBackupRefuses(t *testing.T) {
	src := withBucket(t)
	good, _ := backupBytes(t, src.FSM)

	// A bbolt file of something else.
	foreign := newTestFSM(t) // no InitCluster: no cluster config
	foreignData := func() []byte {
		tx, err := foreign.db.Begin(false)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var buf bytes.Buffer
		if _, err := tx.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	if _, _, err := foreign.Backup(); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("Backup of an uninitialised state: %v, want ErrNotInitialized", err)
	}

	errCheck := errors.New("the key does not fit")
	for _, tc := range []struct {
		name   string
		data   []byte
		check  func(*FSM) error
		want   error
		substr string
	}{
		{"empty", nil, nil, ErrNotBackup, "empty"},
		{"garbage", bytes.Repeat([]byte("not a database "), 1000), nil, ErrNotBackup, ""},
		{"truncated", good[:len(good)/2], nil, ErrNotBackup, ""},
		{"no cluster", foreignData, nil, ErrNotBackup, "no initialised cluster"},
		{"check refuses", good, func(*FSM) error { return errCheck }, errCheck, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "data", "fsm", "state.db") // directories created and removed again
			_, err := ImportBackup(path, bytes.NewReader(tc.data), tc.check)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.substr) {
				t.Fatalf("ImportBackup: %v, want %v containing %q", err, tc.want, tc.substr)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Fatalf("a refused import left files: %v", ents)
			}
		})
	}

	t.Run("existing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		if err := os.WriteFile(path, []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ImportBackup(path, bytes.NewReader(good), nil); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("ImportBackup over a file: %v, want fs.ErrExist", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "mine" {
			t.Fatalf("the existing file was changed: %q", b)
		}
	})

	t.Run("read error", func(t *testing.T) {
		dir := t.TempDir()
		r := io.MultiReader(bytes.NewReader(good[:4096]), iotestErrReader{})
		if _, err := ImportBackup(filepath.Join(dir, "state.db"), r, nil); err == nil || !strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("ImportBackup of a failing stream: %v", err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("a failed import left files: %v", ents)
		}
	})
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestInspectBackup(t *testing.T) {
	src := withBucket(t)
	data, info := backupBytes(t, src.FSM)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	if err := os.WriteFile(good, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := InspectBackup(good)
	if err != nil || got != info {
		t.Fatalf("InspectBackup = %+v, %v; want %+v", got, err, info)
	}
	if after, _ := os.ReadFile(good); !bytes.Equal(after, data) {
		t.Fatal("InspectBackup changed the file")
	}

	bad := filepath.Join(dir, "bad.db")
	if err := os.WriteFile(bad, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := InspectBackup(bad); !errors.Is(err, ErrNotBackup) {
		t.Fatalf("InspectBackup(garbage) = %v, want ErrNotBackup", err)
	}
	if _, err := InspectBackup(filepath.Join(dir, "missing.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("InspectBackup(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestBackupIsPointInTime(t *testing.T) {
	f := withBucket(t)
	file, _, err := f.Backup()
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for i := 0; i < 50; i++ { // enough to grow the state file
		f.mustApply(CmdPutObject, PutObject{Object: object("b1", strings.Repeat("k", 500)+string(rune('a'+i%26))+strings.Repeat("x", i), 1)})
	}
	f.mustApply(CmdCreateBucket, createBucket("later", region, backendID))
	path := filepath.Join(t.TempDir(), "state.db")
	if _, err := ImportBackup(path, file, func(g *FSM) error {
		if _, ok, _ := g.Bucket("later"); ok {
			return errors.New("the backup holds a bucket created after it was taken")
		}
		if _, ok, _ := g.Bucket("b1"); !ok {
			return errors.New("the backup lacks b1")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestBackupAfterClose(t *testing.T) {
	f := withBucket(t)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Backup(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Backup after Close: %v", err)
	}
}
