package gateway_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// slowPut starts an UNSIGNED-PAYLOAD PutObject of bucket/key whose body
// arrives in two halves. It returns once the gateway is reading the body
// (and so holds the key's write lock); it needs an otherwise idle fs
// backend, whose temp directory shows when the write started. finish sends the rest and waits for
// the response status.
func (s *stack) slowPut(bucket, key string) (finish func() int) {
	s.t.Helper()
	pr, pw := io.Pipe()
	r, err := http.NewRequest(http.MethodPut, s.url+"/"+bucket+"/"+key, pr)
	if err != nil {
		s.t.Fatal(err)
	}
	r.ContentLength = 10
	r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey},
		r, "UNSIGNED-PAYLOAD", "s3", testRegion, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	status := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			status <- -1
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	if _, err := pw.Write([]byte("first")); err != nil {
		s.t.Fatal(err)
	}
	// The write above only reached the client's transport. The gateway
	// holds the key lock once the fs backend has opened its temp file.
	tmp := filepath.Join(s.dir, "fs", ".strata", "tmp")
	deadline := time.Now().Add(20 * time.Second)
	for {
		entries, _ := os.ReadDir(tmp)
		if len(entries) > 0 {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatal("the slow PUT never reached the backend")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return func() int {
		_, _ = pw.Write([]byte("secnd"))
		_ = pw.Close()
		return <-status
	}
}

// TestCompleteKeepAlive makes a Complete wait for the key lock held by a
// slow PutObject of the same key, so it outlasts the keep-alive delay: the
// client must get a 200 with white space first and the result after, and
// a failure found after the 200 must reach the SDK as an error.
func TestCompleteKeepAlive(t *testing.T) {
	s := newStack(t, stackOptions{})
	tg := fsTarget(s, "keepalive")
	ctx := context.Background()

	t.Run("result after spaces", func(t *testing.T) {
		id := s.createUpload(tg.bucket, "k")
		etag := s.mustUploadPart(tg.bucket, "k", id, 1, []byte("multipart bytes"))
		finish := s.slowPut(tg.bucket, "k")
		body := `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>` + etag + `</ETag></Part></CompleteMultipartUpload>`
		r := s.rawRequest(http.MethodPost, "/"+tg.bucket+"/k?uploadId="+id, []byte(body))
		sign(t, r, []byte(body), testAccessKey, testSecretKey, time.Now())
		type answer struct {
			status int
			first  time.Duration
			body   string
			err    error
		}
		done := make(chan answer, 1)
		start := time.Now()
		go func() {
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				done <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			first := make([]byte, 1)
			if _, err := io.ReadFull(resp.Body, first); err != nil {
				done <- answer{err: err}
				return
			}
			firstAt := time.Since(start)
			rest, err := io.ReadAll(resp.Body)
			done <- answer{status: resp.StatusCode, first: firstAt, body: string(first) + string(rest), err: err}
		}()
		time.Sleep(3500 * time.Millisecond)
		if st := finish(); st != http.StatusOK {
			t.Fatalf("slow PUT status %d", st)
		}
		a := <-done
		if a.err != nil {
			t.Fatal(a.err)
		}
		if a.status != http.StatusOK || !strings.HasPrefix(a.body, " ") || a.first > 3400*time.Millisecond {
			t.Fatalf("status %d, first byte after %v, body %q: want 200 and an early space", a.status, a.first, a.body)
		}
		if !strings.Contains(a.body, "<CompleteMultipartUploadResult") || !strings.Contains(a.body, "-1&#34;</ETag>") {
			t.Fatalf("body after keep-alive: %q", a.body)
		}
		// The complete ran after the PUT: its bytes are the object now.
		if got := string(s.get(tg.bucket, "k")); got != "multipart bytes" {
			t.Fatalf("object holds %q", got)
		}
	})

	t.Run("error after spaces", func(t *testing.T) {
		id := s.createUpload(tg.bucket, "k2")
		etag := s.mustUploadPart(tg.bucket, "k2", id, 1, []byte("doomed"))
		finish := s.slowPut(tg.bucket, "k2")
		errc := make(chan error, 1)
		go func() {
			_, err := s.complete(tg.bucket, "k2", id, cpart(1, etag))
			errc <- err
		}()
		time.Sleep(2500 * time.Millisecond) // past keepAliveAfter: the 200 is out
		if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(tg.bucket), Key: aws.String("k2"), UploadId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		if st := finish(); st != http.StatusOK {
			t.Fatalf("slow PUT status %d", st)
		}
		if err := <-errc; errorCode(err) != "NoSuchUpload" {
			t.Fatalf("complete of an upload aborted meanwhile: %v, want NoSuchUpload", err)
		}
		if got := string(s.get(tg.bucket, "k2")); got != "firstsecnd" {
			t.Fatalf("object holds %q, want the PUT's bytes", got)
		}
	})
}
