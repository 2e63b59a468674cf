package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestCloseWaitsForDetachedComplete: a CompleteMultipartUpload keeps
// running after its client went away (the backend assembles, then the
// record is committed). Closing the node meanwhile must let it commit
// before raft stops; otherwise the backend holds the assembled object
// under the key while the record still describes the object it replaced,
// which then cannot be read.
func TestCloseWaitsForDetachedComplete(t *testing.T) {
	dir := t.TempDir()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	srv, c := startNodeAt(t, dir, key, 0)
	s := &stack{t: t, srv: srv, client: c, url: srv.S3URL(), dir: dir}
	vgw, region := s.addVersitygwBackend("vgw")
	s.createBucket("drain", region)
	s.put("drain", "k", []byte("old object"))
	id := s.createUpload("drain", "k")
	etag := s.mustUploadPart("drain", "k", id, 1, []byte("new object"))

	// The backend stalls during the complete; the client reads the first
	// keep-alive space and leaves.
	if err := vgw.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = vgw.Resume()
		}
	}()
	body := []byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>` + etag + `</ETag></Part></CompleteMultipartUpload>`)
	r := s.rawRequest(http.MethodPost, "/drain/k?uploadId="+id, body)
	sign(t, r, body, testAccessKey, testSecretKey, time.Now())
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1)); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("complete: status %d, first byte: %v", resp.StatusCode, err)
	}
	resp.Body.Close()

	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	// Long enough for an unguarded Close to stop raft: the handler may
	// write keep-alive spaces into the dead connection until the HTTP
	// shutdown timeout (10 s) closes it.
	start := time.Now()
	select {
	case err := <-closed:
		closed <- err
		t.Logf("close returned after %v with the complete still running", time.Since(start))
	case <-time.After(13 * time.Second):
	}
	resumed = true
	if err := vgw.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}

	_, c = startNodeAt(t, dir, key, 0)
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("drain"), Key: aws.String("k")})
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, []byte("new object")) {
		t.Fatalf("object after restart = %q, want the completed upload", got)
	}
}
