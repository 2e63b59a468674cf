package gateway_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// chunkedPut builds a STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload of data in
// 64 KiB chunks, each signed; tamper flips one byte after signing.
func chunkedPut(t *testing.T, s *stack, bucket, key string, data []byte, tamper bool) *http.Request {
	t.Helper()
	const streaming = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	const chunkSize = 64 << 10
	now := time.Now().UTC()
	r := s.rawRequest("PUT", "/"+bucket+"/"+escapeKey(key), nil)
	r.Header.Set("X-Amz-Content-Sha256", streaming)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	var chunks [][]byte
	for off := 0; off < len(data); off += chunkSize {
		chunks = append(chunks, data[off:min(off+chunkSize, len(data))])
	}
	chunks = append(chunks, nil)
	// Content-Length of the framed body must be known before signing.
	const sigLen = 64
	total := 0
	for _, c := range chunks {
		total += len(strconv.FormatInt(int64(len(c)), 16)) + len(";chunk-signature=") + sigLen + 2 + len(c) + 2
	}
	r.ContentLength = int64(total)
	err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}, r, streaming, "s3", testRegion, now)
	if err != nil {
		t.Fatal(err)
	}
	_, prev, ok := strings.Cut(r.Header.Get("Authorization"), "Signature=")
	if !ok {
		t.Fatal("no seed signature")
	}
	date := now.Format("20060102")
	scope := date + "/" + testRegion + "/s3/aws4_request"
	key4 := hmacSHA(hmacSHA(hmacSHA(hmacSHA([]byte("AWS4"+testSecretKey), date), testRegion), "s3"), "aws4_request")
	emptyHash := sha256.Sum256(nil)
	var body bytes.Buffer
	for _, c := range chunks {
		h := sha256.Sum256(c)
		sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + now.Format("20060102T150405Z") + "\n" + scope + "\n" + prev + "\n" +
			hex.EncodeToString(emptyHash[:]) + "\n" + hex.EncodeToString(h[:])
		sig := hex.EncodeToString(hmacSHA(key4, sts))
		fmt.Fprintf(&body, "%x;chunk-signature=%s\r\n", len(c), sig)
		body.Write(c)
		body.WriteString("\r\n")
		prev = sig
	}
	b := body.Bytes()
	if len(b) != total {
		t.Fatalf("framed length %d, computed %d", len(b), total)
	}
	if tamper {
		i := bytes.Index(b, []byte("\r\n")) + 2 + 10
		b[i] ^= 1
	}
	r.Body = io.NopCloser(struct{ io.Reader }{bytes.NewReader(b)})
	r.GetBody = nil
	return r
}

func hmacSHA(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func TestAWSChunkedUpload(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.createBucket("chunks", "")
	data := bytes.Repeat([]byte("0123456789abcdef"), 10000) // 160000 bytes: 3 chunks
	resp, body, e := do(t, chunkedPut(t, s, "chunks", "streamed", data, false))
	if resp.StatusCode != 200 {
		t.Fatalf("chunked PUT: %d %s %s", resp.StatusCode, e.Code, body)
	}
	if got := s.get("chunks", "streamed"); !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes, want %d", len(got), len(data))
	}
	head, err := s.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("chunks"), Key: aws.String("streamed")})
	if err != nil || aws.ToString(head.ContentEncoding) != "" || aws.ToInt64(head.ContentLength) != int64(len(data)) {
		t.Errorf("stored Content-Encoding %q length %d (%v): aws-chunked must be stripped", aws.ToString(head.ContentEncoding), aws.ToInt64(head.ContentLength), err)
	}
}
