package gateway_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"net/http"
	"testing"
	"time"
)

// TestMultipartRejectedEmptyPartKeepsPart: an empty UploadPart whose
// Content-MD5 does not hold is BadDigest and must not touch the part it
// would have replaced — on an s3 backend the native part is replaced as
// soon as the backend accepts the (empty) upload, so the check has to run
// before the backend is called.
func TestMultipartRejectedEmptyPartKeepsPart(t *testing.T) {
	s := newStack(t, stackOptions{})
	for _, tg := range targets(s) {
		t.Run(tg.name, func(t *testing.T) {
			id := s.createUpload(tg.bucket, "k")
			etag := s.mustUploadPart(tg.bucket, "k", id, 1, []byte("hello"))

			r := s.rawRequest(http.MethodPut, "/"+tg.bucket+"/k?partNumber=1&uploadId="+id, nil)
			sum := md5.Sum([]byte("x"))
			r.Header.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
			sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
			if resp, _, e := do(t, r); resp.StatusCode != http.StatusBadRequest || e.Code != "BadDigest" {
				t.Fatalf("empty part with a wrong Content-MD5: %d %s, want 400 BadDigest", resp.StatusCode, e.Code)
			}

			if _, err := s.complete(tg.bucket, "k", id, cpart(1, etag)); err != nil {
				t.Fatalf("complete with the part uploaded before the rejected one: %v", err)
			}
			if got := s.get(tg.bucket, "k"); !bytes.Equal(got, []byte("hello")) {
				t.Fatalf("object = %q, want %q", got, "hello")
			}
		})
	}
}
