// Package backendtest is the conformance suite every backend.Backend
// implementation must pass. Each implementation's tests call Run with a
// factory for a real instance (a directory for fs, a running versitygw for
// s3), so both are held to the same observable behaviour.
package backendtest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratagw/strata/backend"
)

// Factory returns a fresh, empty backend for one test. It registers its
// own cleanup with t.
type Factory func(t *testing.T) backend.Backend

// Run runs the whole suite against backends made by newBackend.
func Run(t *testing.T, newBackend Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b backend.Backend)
	}{
		{"Buckets", testBuckets},
		{"PutGetHeadDelete", testPutGetHeadDelete},
		{"Ranges", testRanges},
		{"IfMatch", testIfMatch},
		{"Overwrite", testOverwrite},
		{"Copy", testCopy},
		{"ShortBodyLeavesNothing", testShortBody},
		{"Multipart", testMultipart},
		{"MultipartAbort", testMultipartAbort},
		{"MultipartWrongPart", testMultipartWrongPart},
		{"ListOrderAndPagination", testListing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newBackend(t))
		})
	}
}

var bucketSeq atomic.Int64

// newBucket creates a uniquely named bucket in the backend's first region.
func newBucket(t *testing.T, b backend.Backend) string {
	t.Helper()
	name := fmt.Sprintf("conf-%d-%d", time.Now().UnixNano()%1e9, bucketSeq.Add(1))
	if err := b.CreateBucket(ctx(t), b.Regions()[0], name); err != nil {
		t.Fatalf("CreateBucket(%s): %v", name, err)
	}
	return name
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// payload returns n deterministic, non-repeating-looking bytes.
func payload(n int, seed byte) []byte {
	out := make([]byte, n)
	x := uint32(seed) + 1
	for i := range out {
		x = x*1664525 + 1013904223
		out[i] = byte(x >> 24)
	}
	return out
}

func put(t *testing.T, b backend.Backend, bucket, key string, data []byte, meta backend.Meta) backend.ObjectInfo {
	t.Helper()
	info, err := b.PutObject(ctx(t), bucket, key, bytes.NewReader(data), int64(len(data)), meta)
	if err != nil {
		t.Fatalf("PutObject(%s/%s): %v", bucket, key, err)
	}
	return info
}

func get(t *testing.T, b backend.Backend, bucket, key string, rng *backend.Range) ([]byte, backend.ObjectInfo) {
	t.Helper()
	rc, info, err := b.GetObject(ctx(t), bucket, key, rng, "")
	if err != nil {
		t.Fatalf("GetObject(%s/%s): %v", bucket, key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return data, info
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func wantGone(t *testing.T, b backend.Backend, bucket, key string) {
	t.Helper()
	_, err := b.HeadObject(ctx(t), bucket, key)
	wantErr(t, "HeadObject "+key, err, backend.ErrNotFound)
	objs, _, err := b.ListObjects(ctx(t), bucket, "", "", 1000)
	if err != nil {
		t.Fatalf("ListObjects: %v", err)
	}
	for _, o := range objs {
		if o.Key == key {
			t.Fatalf("%s still listed", key)
		}
	}
}

func testBuckets(t *testing.T, b backend.Backend) {
	c := ctx(t)
	bucket := newBucket(t, b)
	wantErr(t, "CreateBucket twice", b.CreateBucket(c, b.Regions()[0], bucket), backend.ErrBucketExists)
	names, err := b.ListBuckets(c)
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	if !contains(names, bucket) {
		t.Fatalf("ListBuckets = %v, missing %s", names, bucket)
	}
	put(t, b, bucket, "dir/obj", []byte("x"), backend.Meta{})
	wantErr(t, "DeleteBucket non-empty", b.DeleteBucket(c, bucket), backend.ErrBucketNotEmpty)
	if err := b.DeleteObject(c, bucket, "dir/obj"); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if err := b.DeleteBucket(c, bucket); err != nil {
		t.Fatalf("DeleteBucket: %v", err)
	}
	wantErr(t, "DeleteBucket missing", b.DeleteBucket(c, bucket), backend.ErrNotFound)
	_, err = b.HeadObject(c, bucket, "dir/obj")
	wantErr(t, "HeadObject in missing bucket", err, backend.ErrNotFound)
	if names, _ := b.ListBuckets(c); contains(names, bucket) {
		t.Fatalf("deleted bucket still listed: %v", names)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func testPutGetHeadDelete(t *testing.T, b backend.Backend) {
	c := ctx(t)
	bucket := newBucket(t, b)
	data := payload(70_000, 1)
	meta := backend.Meta{
		ContentType:        "application/x-test",
		ContentEncoding:    "identity",
		ContentDisposition: `attachment; filename="x.bin"`,
		ContentLanguage:    "en",
		CacheControl:       "max-age=60",
		Expires:            "Wed, 21 Oct 2026 07:28:00 GMT",
		User:               map[string]string{"color": "blue", "owner-id": "42"},
	}
	info := put(t, b, bucket, "photos/2024/x.bin", data, meta)
	if info.ETag != md5hex(data) || info.Size != int64(len(data)) {
		t.Fatalf("put info = %+v, want etag %s size %d", info, md5hex(data), len(data))
	}
	got, ginfo := get(t, b, bucket, "photos/2024/x.bin", nil)
	if !bytes.Equal(got, data) {
		t.Fatalf("GetObject returned %d bytes, want the %d put", len(got), len(data))
	}
	head, err := b.HeadObject(c, bucket, "photos/2024/x.bin")
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	for _, i := range []backend.ObjectInfo{ginfo, head} {
		if i.ETag != info.ETag || i.Size != info.Size || i.Key != "photos/2024/x.bin" || i.ModTime.IsZero() {
			t.Fatalf("info = %+v, want %+v", i, info)
		}
		if !sameMeta(i.Meta, meta) {
			t.Fatalf("meta = %+v, want %+v", i.Meta, meta)
		}
	}
	empty := put(t, b, bucket, "empty", nil, backend.Meta{})
	if empty.Size != 0 || empty.ETag != md5hex(nil) {
		t.Fatalf("empty object info = %+v", empty)
	}
	if got, _ := get(t, b, bucket, "empty", nil); len(got) != 0 {
		t.Fatalf("empty object read %d bytes", len(got))
	}
	for i := 0; i < 2; i++ { // idempotent
		if err := b.DeleteObject(c, bucket, "photos/2024/x.bin"); err != nil {
			t.Fatalf("DeleteObject #%d: %v", i+1, err)
		}
	}
	wantGone(t, b, bucket, "photos/2024/x.bin")
	_, _, err = b.GetObject(c, bucket, "photos/2024/x.bin", nil, "")
	wantErr(t, "GetObject deleted", err, backend.ErrNotFound)
	_, _, err = b.GetObject(c, bucket, "never-was", nil, "")
	wantErr(t, "GetObject missing", err, backend.ErrNotFound)
}

// sameMeta compares metadata, treating nil and empty user maps alike.
func sameMeta(a, b backend.Meta) bool {
	if a.ContentType != b.ContentType || a.ContentEncoding != b.ContentEncoding ||
		a.ContentDisposition != b.ContentDisposition || a.ContentLanguage != b.ContentLanguage ||
		a.CacheControl != b.CacheControl || a.Expires != b.Expires || len(a.User) != len(b.User) {
		return false
	}
	for k, v := range a.User {
		if b.User[k] != v {
			return false
		}
	}
	return true
}

func testRanges(t *testing.T, b backend.Backend) {
	bucket := newBucket(t, b)
	data := payload(10_000, 2)
	put(t, b, bucket, "r", data, backend.Meta{})
	for _, se := range [][2]int64{{0, 0}, {0, 9_999}, {1, 1}, {5_000, 5_999}, {9_999, 9_999}, {9_000, 9_999}} {
		r := backend.Range{Start: se[0], End: se[1]}
		got, info := get(t, b, bucket, "r", &r)
		if !bytes.Equal(got, data[r.Start:r.End+1]) {
			t.Fatalf("range %d-%d: got %d bytes, want %d", r.Start, r.End, len(got), r.End-r.Start+1)
		}
		if info.Size != int64(len(data)) {
			t.Fatalf("range %d-%d: info.Size = %d, want the object size %d", r.Start, r.End, info.Size, len(data))
		}
	}
}

func testIfMatch(t *testing.T, b backend.Backend) {
	c := ctx(t)
	bucket := newBucket(t, b)
	info := put(t, b, bucket, "k", []byte("version one"), backend.Meta{})
	for _, m := range []string{info.ETag, `"` + info.ETag + `"`} {
		rc, _, err := b.GetObject(c, bucket, "k", nil, m)
		if err != nil {
			t.Fatalf("GetObject If-Match %s: %v", m, err)
		}
		rc.Close()
	}
	put(t, b, bucket, "k", []byte("version two"), backend.Meta{})
	_, _, err := b.GetObject(c, bucket, "k", nil, info.ETag)
	wantErr(t, "GetObject with stale If-Match", err, backend.ErrPreconditionFailed)
	_, _, err = b.GetObject(c, bucket, "k", &backend.Range{Start: 0, End: 3}, info.ETag)
	wantErr(t, "ranged GetObject with stale If-Match", err, backend.ErrPreconditionFailed)
}

func testOverwrite(t *testing.T, b backend.Backend) {
	bucket := newBucket(t, b)
	put(t, b, bucket, "k", []byte("old"), backend.Meta{User: map[string]string{"v": "1"}})
	put(t, b, bucket, "k", []byte("newer bytes"), backend.Meta{User: map[string]string{"v": "2"}})
	got, info := get(t, b, bucket, "k", nil)
	if string(got) != "newer bytes" || info.Meta.User["v"] != "2" || info.ETag != md5hex(got) {
		t.Fatalf("after overwrite: %q %+v", got, info)
	}
}

func testCopy(t *testing.T, b backend.Backend) {
	c := ctx(t)
	src := newBucket(t, b)
	dst := newBucket(t, b)
	data := payload(100_000, 3)
	put(t, b, src, "a/src", data, backend.Meta{ContentType: "text/plain", User: map[string]string{"k": "old"}})
	meta := backend.Meta{ContentType: "image/png", User: map[string]string{"k": "new"}}
	for _, target := range []struct{ bucket, key string }{{src, "a/copy"}, {dst, "other/copy"}, {src, "a/src"}} {
		info, err := b.CopyObject(c, src, "a/src", target.bucket, target.key, meta)
		if err != nil {
			t.Fatalf("CopyObject to %s/%s: %v", target.bucket, target.key, err)
		}
		if info.ETag != md5hex(data) || info.Size != int64(len(data)) {
			t.Fatalf("copy info = %+v", info)
		}
		got, ginfo := get(t, b, target.bucket, target.key, nil)
		if !bytes.Equal(got, data) || !sameMeta(ginfo.Meta, meta) {
			t.Fatalf("copy %s/%s: %d bytes, meta %+v", target.bucket, target.key, len(got), ginfo.Meta)
		}
	}
	_, err := b.CopyObject(c, src, "missing", dst, "x", meta)
	wantErr(t, "CopyObject from missing", err, backend.ErrNotFound)
}

// failingReader yields data and then fails instead of returning the last
// byte (a client that disconnects).
type failingReader struct {
	data []byte
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) <= 1 {
		return 0, errors.New("client went away")
	}
	n := copy(p, f.data[:len(f.data)-1])
	f.data = f.data[n:]
	return n, nil
}

// cancellingReader cancels its context when read and then blocks until
// the cancellation is seen (a client that stalls and the request is
// abandoned).
type cancellingReader struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (r *cancellingReader) Read([]byte) (int, error) {
	r.cancel()
	<-r.ctx.Done()
	return 0, r.ctx.Err()
}

func testShortBody(t *testing.T, b backend.Backend) {
	c := ctx(t)
	bucket := newBucket(t, b)
	data := payload(200_000, 4)
	put(t, b, bucket, "kept", []byte("keep me"), backend.Meta{})
	cases := []struct {
		name string
		key  string
		r    io.Reader
	}{
		{"fewer bytes", "short", bytes.NewReader(data[:len(data)-10])},
		{"error at last byte", "failing", &failingReader{data: data}},
		{"failed overwrite", "kept", &failingReader{data: data}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := b.PutObject(c, bucket, tc.key, tc.r, int64(len(data)), backend.Meta{}); err == nil {
				t.Fatal("PutObject with a short body succeeded")
			}
		})
	}
	cctx, cancel := context.WithCancel(c)
	stalled := io.MultiReader(bytes.NewReader(data[:len(data)/2]), &cancellingReader{ctx: cctx, cancel: cancel})
	if _, err := b.PutObject(cctx, bucket, "cancelled", stalled, int64(len(data)), backend.Meta{}); err == nil {
		t.Fatal("PutObject with a cancelled context succeeded")
	}
	wantGone(t, b, bucket, "short")
	wantGone(t, b, bucket, "failing")
	wantGone(t, b, bucket, "cancelled")
	if got, _ := get(t, b, bucket, "kept", nil); string(got) != "keep me" {
		t.Fatalf("failed overwrite changed the object to %d bytes", len(got))
	}
	upload, err := b.CreateMultipart(c, bucket, "mp", backend.Meta{})
	if err != nil {
		t.Fatalf("CreateMultipart: %v", err)
	}
	if _, err := b.UploadPart(c, bucket, "mp", upload, 1, &failingReader{data: data}, int64(len(data))); err == nil {
		t.Fatal("UploadPart with a short body succeeded")
	}
	if _, err := b.CompleteMultipart(c, bucket, "mp", upload, []backend.CompletedPart{{Number: 1, ETag: md5hex(data)}}); err == nil {
		t.Fatal("CompleteMultipart with a failed part succeeded")
	}
	_ = b.AbortMultipart(c, bucket, "mp", upload)
	wantGone(t, b, bucket, "mp")
}

const mib = 1 << 20

func testMultipart(t *testing.T, b backend.Backend) {
	c := ctx(t)
	bucket := newBucket(t, b)
	src := payload(6*mib, 9)
	put(t, b, bucket, "copy-source", src, backend.Meta{})
	meta := backend.Meta{ContentType: "application/zip", User: map[string]string{"m": "p"}}
	upload, err := b.CreateMultipart(c, bucket, "big/object", meta)
	if err != nil {
		t.Fatalf("CreateMultipart: %v", err)
	}
	p1, p2, p4 := payload(5*mib, 10), payload(5*mib, 11), payload(1234, 12)
	p3 := src[mib/2 : mib/2+5*mib]
	var parts []backend.CompletedPart
	for _, p := range []struct {
		n    int
		data []byte
	}{{1, p1}, {2, p2}} {
		etag, err := b.UploadPart(c, bucket, "big/object", upload, p.n, bytes.NewReader(p.data), int64(len(p.data)))
		if err != nil {
			t.Fatalf("UploadPart %d: %v", p.n, err)
		}
		if etag != md5hex(p.data) {
			t.Fatalf("part %d etag = %s, want %s", p.n, etag, md5hex(p.data))
		}
		parts = append(parts, backend.CompletedPart{Number: p.n, ETag: etag})
	}
	etag3, err := b.UploadPartCopy(c, bucket, "big/object", upload, 3, bucket, "copy-source",
		&backend.Range{Start: mib / 2, End: mib/2 + 5*mib - 1})
	if err != nil {
		t.Fatalf("UploadPartCopy: %v", err)
	}
	if etag3 != md5hex(p3) {
		t.Fatalf("part copy etag = %s, want %s", etag3, md5hex(p3))
	}
	etag4, err := b.UploadPart(c, bucket, "big/object", upload, 4, bytes.NewReader(p4), int64(len(p4)))
	if err != nil {
		t.Fatalf("UploadPart 4: %v", err)
	}
	parts = append(parts, backend.CompletedPart{Number: 3, ETag: etag3}, backend.CompletedPart{Number: 4, ETag: etag4})
	info, err := b.CompleteMultipart(c, bucket, "big/object", upload, parts)
	if err != nil {
		t.Fatalf("CompleteMultipart: %v", err)
	}
	want := bytes.Join([][]byte{p1, p2, p3, p4}, nil)
	if info.Size != int64(len(want)) || info.ETag != multipartETag(parts) {
		t.Fatalf("complete info = %+v, want size %d etag %s", info, len(want), multipartETag(parts))
	}
	got, ginfo := get(t, b, bucket, "big/object", nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("assembled object differs (%d bytes, want %d)", len(got), len(want))
	}
	if !sameMeta(ginfo.Meta, meta) || ginfo.ETag != info.ETag {
		t.Fatalf("assembled object info = %+v", ginfo)
	}
	// The upload is gone once completed.
	err = b.AbortMultipart(c, bucket, "big/object", upload)
	wantErr(t, "AbortMultipart after complete", err, backend.ErrNotFound)
}

func multipartETag(parts []backend.CompletedPart) string {
	h := md5.New()
	for _, p := range parts {
		raw, _ := hex.DecodeString(p.ETag)
		h.Write(raw)
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(parts))
}

func testMultipartAbort(t *testing.T, b backend.Backend) {
	c := ctx(t)
	bucket := newBucket(t, b)
	upload, err := b.CreateMultipart(c, bucket, "aborted", backend.Meta{})
	if err != nil {
		t.Fatalf("CreateMultipart: %v", err)
	}
	if _, err := b.UploadPart(c, bucket, "aborted", upload, 1, strings.NewReader("part"), 4); err != nil {
		t.Fatalf("UploadPart: %v", err)
	}
	err = b.AbortMultipart(c, bucket, "other-key", upload)
	wantErr(t, "AbortMultipart with another key", err, backend.ErrNotFound)
	if err := b.AbortMultipart(c, bucket, "aborted", upload); err != nil {
		t.Fatalf("AbortMultipart: %v", err)
	}
	wantErr(t, "AbortMultipart twice", b.AbortMultipart(c, bucket, "aborted", upload), backend.ErrNotFound)
	_, err = b.UploadPart(c, bucket, "aborted", upload, 2, strings.NewReader("late"), 4)
	wantErr(t, "UploadPart after abort", err, backend.ErrNotFound)
	wantGone(t, b, bucket, "aborted")
	// An empty bucket again: the upload left nothing behind.
	if err := b.DeleteBucket(c, bucket); err != nil {
		t.Fatalf("DeleteBucket after abort: %v", err)
	}
}

func testMultipartWrongPart(t *testing.T, b backend.Backend) {
	c := ctx(t)
	bucket := newBucket(t, b)
	upload, err := b.CreateMultipart(c, bucket, "mp", backend.Meta{})
	if err != nil {
		t.Fatalf("CreateMultipart: %v", err)
	}
	data := payload(5*mib, 20)
	etag, err := b.UploadPart(c, bucket, "mp", upload, 1, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("UploadPart: %v", err)
	}
	bad := [][]backend.CompletedPart{
		{{Number: 1, ETag: md5hex([]byte("other bytes"))}},
		{{Number: 2, ETag: etag}},
	}
	for _, parts := range bad {
		_, err := b.CompleteMultipart(c, bucket, "mp", upload, parts)
		wantErr(t, fmt.Sprintf("CompleteMultipart %+v", parts), err, backend.ErrInvalidPart)
	}
	wantGone(t, b, bucket, "mp")
	// The upload survives a failed complete.
	if _, err := b.CompleteMultipart(c, bucket, "mp", upload, []backend.CompletedPart{{Number: 1, ETag: etag}}); err != nil {
		t.Fatalf("CompleteMultipart after failed attempts: %v", err)
	}
}

func testListing(t *testing.T, b backend.Backend) {
	c := ctx(t)
	bucket := newBucket(t, b)
	keys := []string{"b", "a/c/d", "c/", "a0", "a-b", "a/b"}
	want := []string{"a-b", "a/b", "a/c/d", "a0", "b", "c/"} // bytewise key order
	for i, k := range keys {
		data := payload(i+1, byte(i))
		if strings.HasSuffix(k, "/") {
			data = nil // folder markers are empty (some servers refuse data in them)
		}
		put(t, b, bucket, k, data, backend.Meta{})
	}
	var got []string
	after := ""
	for page := 0; ; page++ {
		objs, truncated, err := b.ListObjects(c, bucket, "", after, 2)
		if err != nil {
			t.Fatalf("ListObjects after %q: %v", after, err)
		}
		if len(objs) > 2 || page > 5 {
			t.Fatalf("page %d: %d objects, max 2", page, len(objs))
		}
		for _, o := range objs {
			got = append(got, o.Key)
			if o.ETag == "" || (o.Size <= 0) != strings.HasSuffix(o.Key, "/") || o.ModTime.IsZero() {
				t.Fatalf("listed %+v without etag/size/time", o)
			}
		}
		if !truncated {
			break
		}
		after = objs[len(objs)-1].Key
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("listing = %q, want %q", got, want)
	}
	objs, truncated, err := b.ListObjects(c, bucket, "a/", "", 1000)
	if err != nil || truncated {
		t.Fatalf("ListObjects prefix a/: truncated=%v err=%v", truncated, err)
	}
	if len(objs) != 2 || objs[0].Key != "a/b" || objs[1].Key != "a/c/d" {
		t.Fatalf("prefix a/ = %+v", objs)
	}
	if objs, _, err := b.ListObjects(c, bucket, "zzz/", "", 10); err != nil || len(objs) != 0 {
		t.Fatalf("prefix zzz/ = %v, %v", objs, err)
	}
	_, _, err = b.ListObjects(c, "no-such-bucket-here", "", "", 10)
	wantErr(t, "ListObjects on missing bucket", err, backend.ErrNotFound)
}
