package fs_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stratagw/strata/backend"
)

// TestReadsNeverMixVersions overwrites one key with same-size versions
// while readers fetch it: every read must return bytes whose MD5 is the
// ETag it reports. Between the rename of a new version into place and
// the write of its sidecar, the old sidecar sits next to the new file; a
// version written within the same timestamp tick has the old one's size
// and mtime, so the stale sidecar looked valid and the new bytes were
// served under the old ETag (which the gateway's If-Match then accepted).
func TestReadsNeverMixVersions(t *testing.T) {
	b, _ := newFS(t)
	ctx := context.Background()
	const versions = 300
	body := func(i int) string { return strings.Repeat(fmt.Sprintf("v%04d;", i), 512) }
	if err := putString(t, b, "hot", body(0)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	errs := make(chan error, 100)
	var readers sync.WaitGroup
	for r := 0; r < 3; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rc, info, err := b.GetObject(ctx, "bkt", "hot", nil, "")
				if err != nil {
					errs <- err
					return
				}
				data, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errs <- err
					return
				}
				if sum := md5.Sum(data); hex.EncodeToString(sum[:]) != info.ETag {
					errs <- fmt.Errorf("read %q… under ETag %s, which is not its MD5", data[:6], info.ETag)
					return
				}
			}
		}()
	}
	for i := 1; i <= versions; i++ {
		data := body(i)
		if _, err := b.PutObject(ctx, "bkt", "hot", bytes.NewReader([]byte(data)), int64(len(data)), backend.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
