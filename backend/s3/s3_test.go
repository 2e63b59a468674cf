package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/backend/s3"
	"github.com/stratagw/strata/internal/testenv"
)

// failAtLast yields all but the last byte of data, then fails.
type failAtLast struct{ data []byte }

func (f *failAtLast) Read(p []byte) (int, error) {
	if len(f.data) <= 1 {
		return 0, errors.New("client went away")
	}
	n := copy(p, f.data[:len(f.data)-1])
	f.data = f.data[n:]
	return n, nil
}

// An interrupted upload must leave nothing on the server, at every size
// (around the HTTP client's buffer sizes too): the server must never take
// a truncated body for a complete one.
func TestInterruptedUploadLeavesNothing(t *testing.T) {
	srv := testenv.Versitygw(t)
	b := open(t, srv)
	ctx := context.Background()
	if err := b.CreateBucket(ctx, "", "interrupted"); err != nil {
		t.Fatal(err)
	}
	upload, err := b.CreateMultipart(ctx, "interrupted", "mp", backend.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 2, 4095, 4096, 4097, 65536, 65537, 1 << 20, 3<<20 + 7} {
		data := bytes.Repeat([]byte("x"), size)
		readers := map[string]func() io.Reader{
			"short":        func() io.Reader { return bytes.NewReader(data[:size-1]) },
			"fail-at-last": func() io.Reader { return &failAtLast{data: data} },
		}
		for name, r := range readers {
			key := fmt.Sprintf("%s-%d", name, size)
			_, err := b.PutObject(ctx, "interrupted", key, r(), int64(size), backend.Meta{})
			if err == nil {
				t.Fatalf("%s: PutObject succeeded", key)
			}
			if errors.Is(err, backend.ErrUnavailable) {
				t.Errorf("%s: a failing body was reported as the backend being down: %v", key, err)
			}
			if info, err := b.HeadObject(ctx, "interrupted", key); err == nil {
				t.Errorf("%s: a %d-byte object was stored", key, info.Size)
			}
			if _, err := b.UploadPart(ctx, "interrupted", "mp", upload, 1, r(), int64(size)); err == nil {
				t.Fatalf("%s: UploadPart succeeded", key)
			}
		}
	}
	// No part was stored: completing with any part 1 fails.
	_, err = b.CompleteMultipart(ctx, "interrupted", "mp", upload,
		[]backend.CompletedPart{{Number: 1, ETag: "d41d8cd98f00b204e9800998ecf8427e"}})
	if !errors.Is(err, backend.ErrInvalidPart) {
		t.Fatalf("CompleteMultipart = %v, want ErrInvalidPart", err)
	}
}

// A stopped server fails fast with ErrUnavailable (the bound only
// catches hangs and retry storms).
func TestStoppedServerIsUnavailable(t *testing.T) {
	srv := testenv.Versitygw(t)
	b := open(t, srv)
	ctx := context.Background()
	if err := b.CreateBucket(ctx, "", "alive"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	calls := map[string]func() error{
		"check": func() error { return b.Check(ctx) },
		"put": func() error {
			_, err := b.PutObject(ctx, "alive", "k", bytes.NewReader([]byte("data")), 4, backend.Meta{})
			return err
		},
		"get": func() error {
			_, _, err := b.GetObject(ctx, "alive", "k", nil, "")
			return err
		},
		"list": func() error {
			_, _, err := b.ListObjects(ctx, "alive", "", "", 10)
			return err
		},
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		if !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("%s on a stopped server: err = %v, want ErrUnavailable", name, err)
		}
		d := time.Since(start)
		if d > 30*time.Second {
			t.Errorf("%s took %s to fail", name, d)
		}
		t.Logf("%s failed after %s", name, d.Round(time.Millisecond))
	}
}

// A server that accepts connections but never answers is bounded by ctx.
func TestHungServerHonoursContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	b, err := s3.New(context.Background(), backend.Config{
		Type: "s3", Endpoint: "http://" + l.Addr().String(), Region: "us-east-1", PathStyle: true,
		AccessKey: "k", SecretKey: "s",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := b.Check(ctx); err == nil {
		t.Fatal("Check against a silent server succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Check ignored its deadline: %s", d)
	}
}

func TestErrorMapping(t *testing.T) {
	srv := testenv.Versitygw(t)
	b := open(t, srv)
	ctx := context.Background()
	if err := b.CreateBucket(ctx, "", "mapping"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"head missing key", headErr(b, "mapping", "nope"), backend.ErrNotFound},
		{"head missing bucket", headErr(b, "no-such-bucket", "k"), backend.ErrNotFound},
		{"create existing bucket", b.CreateBucket(ctx, "", "mapping"), backend.ErrBucketExists},
		{"delete missing bucket", b.DeleteBucket(ctx, "no-such-bucket"), backend.ErrNotFound},
		{"abort unknown upload", b.AbortMultipart(ctx, "mapping", "k", "no-such-upload"), backend.ErrNotFound},
	}
	for _, tc := range cases {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func headErr(b *s3.Backend, bucket, key string) error {
	_, err := b.HeadObject(context.Background(), bucket, key)
	return err
}

func TestNewRejectsBadConfig(t *testing.T) {
	cases := []backend.Config{
		{Type: "s3", Endpoint: "http://127.0.0.1:1", AccessKey: "", SecretKey: "s"},
		{Type: "s3", Endpoint: "127.0.0.1:9000", AccessKey: "k", SecretKey: "s"},
		{Type: "s3", Endpoint: "ftp://host", AccessKey: "k", SecretKey: "s"},
	}
	for _, cfg := range cases {
		if _, err := s3.New(context.Background(), cfg); err == nil {
			t.Errorf("New(%s) succeeded", cfg)
		}
	}
}

// The machine sets AWS_CA_BUNDLE; a client must still be built (and a
// broken bundle must be a clear error, not a silent fallback).
func TestCABundle(t *testing.T) {
	cfg := backend.Config{Type: "s3", Endpoint: "https://127.0.0.1:1", AccessKey: "k", SecretKey: "s"}
	t.Setenv("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
	if _, err := s3.New(context.Background(), cfg); err != nil {
		t.Fatalf("New with AWS_CA_BUNDLE: %v", err)
	}
	t.Setenv("AWS_CA_BUNDLE", t.TempDir()+"/missing.pem")
	if _, err := s3.New(context.Background(), cfg); err == nil {
		t.Fatal("New with a missing AWS_CA_BUNDLE succeeded")
	}
}

// The client is configured only from backend.Config: AWS_* variables and
// ~/.aws must not redirect or break it.
func TestEnvironmentDoesNotLeakIn(t *testing.T) {
	srv := testenv.Versitygw(t)
	t.Setenv("AWS_PROFILE", "no-such-profile")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
	t.Setenv("AWS_REGION", "eu-west-9")
	t.Setenv("AWS_ACCESS_KEY_ID", "wrong")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/missing")
	b := open(t, srv)
	if err := b.Check(context.Background()); err != nil {
		t.Fatalf("Check with a hostile AWS_* environment: %v", err)
	}
	if r := b.Regions(); len(r) != 1 || r[0] != srv.Region {
		t.Fatalf("Regions = %v, want [%s]", r, srv.Region)
	}
}
