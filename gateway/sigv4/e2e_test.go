package sigv4

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// objectServer is a tiny S3 stand-in: it verifies every request with the
// Verifier, stores PUT bodies and serves them back on GET. It records the
// payload mode each PUT used so the tests know what the SDK sent.
type objectServer struct {
	v     *Verifier
	mu    sync.Mutex
	objs  map[string][]byte
	modes map[string]string
}

func (s *objectServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, err := s.v.Verify(r)
	if err != nil {
		writeS3Error(w, err)
		return
	}
	switch r.Method {
	case http.MethodPut:
		body, err := readBody(a)
		if err != nil {
			writeS3Error(w, err)
			return
		}
		s.mu.Lock()
		s.objs[r.URL.Path] = body
		s.modes[r.URL.Path] = a.PayloadHash
		if a.Checksum != nil && a.Checksum.Value() != "" {
			s.modes[r.URL.Path] += " " + a.Checksum.Name
		}
		s.mu.Unlock()
		w.Header().Set("ETag", `"`+sha256Hex(body)[:32]+`"`)
	case http.MethodGet:
		s.mu.Lock()
		body, ok := s.objs[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Write(body)
	}
}

func writeS3Error(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: "InternalError", Message: err.Error(), Status: 500}
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	xml.NewEncoder(w).Encode(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string
		Message string
	}{Code: e.Code, Message: e.Message})
}

// unseekable hides Seek so the SDK must stream the body.
type unseekable struct{ io.Reader }

func newS3Client(srv *httptest.Server, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:           testRegion,
		Credentials:      credentials.NewStaticCredentialsProvider(testAccessKey, secret, ""),
		BaseEndpoint:     aws.String(srv.URL),
		UsePathStyle:     true,
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
		// What config.LoadDefaultConfig sets; s3.New alone leaves it unset.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
}

func TestS3ClientEndToEnd(t *testing.T) {
	payload := bytes.Repeat([]byte("strata-e2e-"), 300000) // ~3.3 MB: many aws-chunked chunks
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "https"}[useTLS]
		t.Run(name, func(t *testing.T) {
			objs := &objectServer{v: NewVerifier(testLookup, Options{}), objs: map[string][]byte{}, modes: map[string]string{}}
			var srv *httptest.Server
			if useTLS {
				srv = httptest.NewTLSServer(objs)
			} else {
				srv = httptest.NewServer(objs)
			}
			t.Cleanup(srv.Close)
			client := newS3Client(srv, testSecret)
			ctx := context.Background()

			bodies := map[string]func() io.Reader{
				"seekable": func() io.Reader { return bytes.NewReader(payload) },
			}
			if useTLS {
				// Over plain HTTP the SDK refuses unseekable bodies; over TLS
				// it streams them with a checksum trailer.
				bodies["unseekable"] = func() io.Reader { return unseekable{bytes.NewReader(payload)} }
			}
			for kind, body := range bodies {
				for _, key := range oddKeys {
					_, err := client.PutObject(ctx, &s3.PutObjectInput{
						Bucket: aws.String("bucket"), Key: aws.String(key),
						Body: body(), ContentLength: aws.Int64(int64(len(payload))),
					})
					if err != nil {
						t.Fatalf("%s PutObject %q: %v", kind, key, err)
					}
					out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)})
					if err != nil {
						t.Fatalf("GetObject %q: %v", key, err)
					}
					got, _ := io.ReadAll(out.Body)
					out.Body.Close()
					if !bytes.Equal(got, payload) {
						t.Fatalf("%s %q: stored %d bytes, want %d", kind, key, len(got), len(payload))
					}
					objs.mu.Lock()
					mode := objs.modes["/bucket/"+key]
					objs.mu.Unlock()
					hash, sum, _ := strings.Cut(mode, " ")
					if useTLS && hash != StreamingUnsignedTrailer || !useTLS && !isSHA256Hex(hash) || sum != "x-amz-checksum-crc32" {
						t.Fatalf("%s %q: the SDK used payload mode %q", kind, key, mode)
					}
				}
			}

			presigned, err := s3.NewPresignClient(client).PresignGetObject(ctx,
				&s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(oddKeys[4])},
				s3.WithPresignExpires(10*time.Minute))
			if err != nil {
				t.Fatalf("presign: %v", err)
			}
			resp, err := srv.Client().Get(presigned.URL)
			if err != nil {
				t.Fatalf("GET presigned: %v", err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Equal(got, payload) {
				t.Fatalf("presigned GET: %d, %d bytes", resp.StatusCode, len(got))
			}

			putURL, err := s3.NewPresignClient(client).PresignPutObject(ctx,
				&s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("presigned put")},
				s3.WithPresignExpires(10*time.Minute))
			if err != nil {
				t.Fatalf("presign put: %v", err)
			}
			req, err := http.NewRequest(putURL.Method, putURL.URL, bytes.NewReader(payload))
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range putURL.SignedHeader {
				if !strings.EqualFold(k, "Host") {
					req.Header[k] = vs
				}
			}
			resp, err = srv.Client().Do(req)
			if err != nil {
				t.Fatalf("PUT presigned: %v", err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			objs.mu.Lock()
			stored := objs.objs["/bucket/presigned put"]
			objs.mu.Unlock()
			if resp.StatusCode != 200 || !bytes.Equal(stored, payload) {
				t.Fatalf("presigned PUT: %d %s, stored %d bytes", resp.StatusCode, msg, len(stored))
			}

			_, err = newS3Client(srv, "wrong-secret").PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String("bucket"), Key: aws.String("denied"), Body: strings.NewReader("x"),
			})
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != CodeSignatureDoesNotMatch {
				t.Fatalf("wrong secret: %v", err)
			}
			objs.mu.Lock()
			_, denied := objs.objs["/bucket/denied"]
			objs.mu.Unlock()
			if denied {
				t.Fatalf("a request with a wrong signature stored an object")
			}
		})
	}
}
