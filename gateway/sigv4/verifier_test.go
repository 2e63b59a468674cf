package sigv4

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/httpbinding"
)

// oddKeys are object keys whose encoding differs between lax and strict
// URI encoders.
var oddKeys = []string{
	"plain.txt",
	"with space.txt",
	"plus+sign",
	"100%pure",
	"ünïcödé/ключ/キー",
	"eq=amp&semi;colon",
	"tilde~star*quote'paren()",
	"dir/sub dir/file",
	"double//slash",
	"dollar$comma,at@colon:",
	"hash#question?bang!",
	"[brackets]{braces}",
}

// oddQueries are query strings as a client might put them on the wire.
var oddQueries = []string{
	"",
	"uploads",
	"prefix=a%20b&delimiter=%2F",
	"list-type=2&prefix=plus%2Bsign&start-after=%C3%BC",
	"max-keys=10&marker=a%3Db%26c",
	"tagging&versionId=abc",
	"b=2&a=1&a=0",
}

// verifyServer runs Verify behind a real HTTP server and answers with the
// outcome: "ok <bytes read>" or the error code.
func verifyServer(t *testing.T, v *Verifier) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := v.Verify(r)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				w.WriteHeader(e.Status)
				fmt.Fprint(w, e.Code)
				return
			}
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, err)
			return
		}
		body, err := readBody(a)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				w.WriteHeader(e.Status)
				fmt.Fprint(w, e.Code)
				return
			}
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, err)
			return
		}
		fmt.Fprintf(w, "ok %d %s", len(body), sha256Hex(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func roundTrip(t *testing.T, r *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// clientRequest builds a request whose path is escaped like the S3 SDK does.
func clientRequest(t *testing.T, method, base, key, query string, body []byte) *http.Request {
	t.Helper()
	u, err := url.Parse(base + "/bucket/" + httpbinding.EscapePath(key, false))
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = query
	r, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHeaderAuthOverTheWire(t *testing.T) {
	srv := verifyServer(t, NewVerifier(testLookup, Options{}))
	for _, key := range oddKeys {
		for _, query := range oddQueries {
			for _, method := range []string{"GET", "PUT"} {
				name := fmt.Sprintf("%s %q ?%s", method, key, query)
				t.Run(name, func(t *testing.T) {
					var body []byte
					hash := EmptySHA256
					if method == "PUT" {
						body = []byte("payload for " + key)
						hash = sha256Hex(body)
					}
					r := clientRequest(t, method, srv.URL, key, query, body)
					r.Header.Set("X-Amz-Meta-Note", "  spaced   value  ")
					r.Header.Add("X-Amz-Meta-Multi", "one")
					r.Header.Add("X-Amz-Meta-Multi", "two")
					signHeader(t, r, hash, testSecret, time.Now())
					code, out := roundTrip(t, r)
					want := fmt.Sprintf("ok %d %s", len(body), sha256Hex(body))
					if code != 200 || out != want {
						t.Fatalf("got %d %q, want 200 %q", code, out, want)
					}
				})
			}
		}
	}
}

func TestPresignedOverTheWire(t *testing.T) {
	srv := verifyServer(t, NewVerifier(testLookup, Options{}))
	for _, key := range oddKeys {
		for _, method := range []string{"GET", "PUT"} {
			t.Run(method+" "+key, func(t *testing.T) {
				r := clientRequest(t, method, srv.URL, key, "response-content-type=text%2Fplain", nil)
				u := presign(t, r, "3600", testSecret, time.Now())
				body := []byte("presigned body")
				req, err := http.NewRequest(method, u, bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				code, out := roundTrip(t, req)
				if code != 200 || !strings.HasPrefix(out, "ok ") {
					t.Fatalf("got %d %q", code, out)
				}
			})
		}
	}
}

func TestHeaderAuthFailures(t *testing.T) {
	body := []byte("hello, strata")
	cases := []struct {
		name   string
		secret string
		at     time.Time
		mutate func(r *http.Request) // after signing
		code   string
	}{
		{name: "wrong secret", secret: "not-the-secret", code: CodeSignatureDoesNotMatch},
		{name: "unknown key", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testAccessKey, "AKIDUNKNOWN", 1))
		}, code: CodeInvalidAccessKeyID},
		{name: "skew past", at: testNow.Add(-16 * time.Minute), code: CodeRequestTimeTooSkewed},
		{name: "skew future", at: testNow.Add(16 * time.Minute), code: CodeRequestTimeTooSkewed},
		{name: "tampered signed header", mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Meta-Color", "red")
		}, code: CodeSignatureDoesNotMatch},
		{name: "unsigned x-amz header", mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Copy-Source", "/other/key")
		}, code: CodeAccessDenied},
		{name: "tampered query", mutate: func(r *http.Request) {
			r.URL.RawQuery = "partNumber=2"
		}, code: CodeSignatureDoesNotMatch},
		{name: "added query", mutate: func(r *http.Request) {
			r.URL.RawQuery += "&acl"
		}, code: CodeSignatureDoesNotMatch},
		{name: "tampered path", mutate: func(r *http.Request) {
			r.URL.Path = "/bucket/other"
		}, code: CodeSignatureDoesNotMatch},
		{name: "tampered method", mutate: func(r *http.Request) {
			r.Method = "DELETE"
		}, code: CodeSignatureDoesNotMatch},
		{name: "tampered host", mutate: func(r *http.Request) {
			r.Host = "evil.example.test"
		}, code: CodeSignatureDoesNotMatch},
		{name: "missing content sha256", mutate: func(r *http.Request) {
			r.Header.Del("X-Amz-Content-Sha256")
		}, code: CodeInvalidRequest},
		{name: "bad content sha256", mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", "not-a-hash")
		}, code: CodeInvalidArgument},
		{name: "missing date", mutate: func(r *http.Request) {
			r.Header.Del("X-Amz-Date")
		}, code: CodeAccessDenied},
		{name: "malformed date", mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", "2026-11-25T12:00:00Z")
		}, code: CodeAccessDenied},
		{name: "scope date differs", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20261125/", "/20261124/", 1))
		}, code: CodeAuthorizationHeaderMalformed},
		{name: "wrong service", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/s3/", "/iam/", 1))
		}, code: CodeAuthorizationHeaderMalformed},
		{name: "host not signed", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "host;", "", 1))
		}, code: CodeAuthorizationHeaderMalformed},
		{name: "sigv2", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS "+testAccessKey+":c2lnbmF0dXJl")
		}, code: CodeInvalidRequest},
		{name: "both header and query auth", mutate: func(r *http.Request) {
			r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256"
		}, code: CodeInvalidArgument},
		{name: "bad query escape", mutate: func(r *http.Request) {
			r.URL.RawQuery = "prefix=%zz"
		}, code: CodeInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest("PUT", "/bucket/key?uploadId=abc", body)
			at := tc.at
			if at.IsZero() {
				at = testNow
			}
			secret := tc.secret
			if secret == "" {
				secret = testSecret
			}
			r.Header.Set("X-Amz-Meta-Color", "blue")
			signHeader(t, r, sha256Hex(body), secret, at)
			if tc.mutate != nil {
				tc.mutate(r)
			}
			_, err := newTestVerifier(testNow).Verify(r)
			wantCode(t, err, tc.code)
		})
	}
}

func TestHeaderAuthAcceptsSkewWithinLimit(t *testing.T) {
	for _, at := range []time.Time{testNow.Add(-14 * time.Minute), testNow.Add(14 * time.Minute)} {
		r := newRequest("GET", "/bucket/key", nil)
		signHeader(t, r, EmptySHA256, testSecret, at)
		if _, err := newTestVerifier(testNow).Verify(r); err != nil {
			t.Fatalf("signed at %v: %v", at, err)
		}
	}
}

func TestAnonymous(t *testing.T) {
	r := newRequest("PUT", "/bucket/key", []byte("anon"))
	a, err := newTestVerifier(testNow).Verify(r)
	if err != nil {
		t.Fatalf("anonymous: %v", err)
	}
	if !a.Anonymous || a.AccessKey != "" {
		t.Fatalf("auth = %+v, want anonymous", a)
	}
	if got, err := readBody(a); err != nil || string(got) != "anon" {
		t.Fatalf("body = %q, %v", got, err)
	}
}

func TestLookupFailureIsNotAClientError(t *testing.T) {
	boom := errors.New("fsm unavailable")
	v := NewVerifier(func(context.Context, string) (string, bool, error) { return "", false, boom },
		Options{Now: func() time.Time { return testNow }})
	r := newRequest("GET", "/bucket/key", nil)
	signHeader(t, r, EmptySHA256, testSecret, testNow)
	_, err := v.Verify(r)
	var e *Error
	if !errors.Is(err, boom) || errors.As(err, &e) {
		t.Fatalf("err = %v, want the wrapped lookup error", err)
	}
}

func TestPresignedFailures(t *testing.T) {
	cases := []struct {
		name    string
		expires string
		at      time.Time
		secret  string
		mutate  func(u string) string
		code    string
	}{
		{name: "expired", expires: "60", at: testNow.Add(-2 * time.Minute), code: CodeAccessDenied},
		{name: "not yet valid", expires: "60", at: testNow.Add(time.Hour), code: CodeAccessDenied},
		{name: "expires over a week", expires: "604801", code: CodeAuthorizationQueryError},
		{name: "expires zero", expires: "0", code: CodeAuthorizationQueryError},
		{name: "expires not a number", expires: "soon", code: CodeAuthorizationQueryError},
		{name: "wrong secret", expires: "60", secret: "wrong", code: CodeSignatureDoesNotMatch},
		{name: "tampered query", expires: "60", mutate: func(u string) string { return u + "&versionId=1" }, code: CodeSignatureDoesNotMatch},
		{name: "tampered expires", expires: "60", mutate: func(u string) string {
			return strings.Replace(u, "X-Amz-Expires=60", "X-Amz-Expires=600", 1)
		}, code: CodeSignatureDoesNotMatch},
		{name: "missing signature", expires: "60", mutate: func(u string) string {
			i := strings.Index(u, "&X-Amz-Signature=")
			return u[:i]
		}, code: CodeAuthorizationQueryError},
		{name: "other algorithm", expires: "60", mutate: func(u string) string {
			return strings.Replace(u, "X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1", 1)
		}, code: CodeAuthorizationQueryError},
		{name: "unknown key", expires: "60", mutate: func(u string) string {
			return strings.Replace(u, testAccessKey, "AKIDUNKNOWN", 1)
		}, code: CodeInvalidAccessKeyID},
		{name: "sigv2 query", expires: "60", mutate: func(string) string {
			return "http://s3.example.test/bucket/key?AWSAccessKeyId=AK&Expires=1&Signature=x"
		}, code: CodeInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at, secret := tc.at, tc.secret
			if at.IsZero() {
				at = testNow
			}
			if secret == "" {
				secret = testSecret
			}
			u := presign(t, newRequest("GET", "http://s3.example.test/bucket/key", nil), tc.expires, secret, at)
			if tc.mutate != nil {
				u = tc.mutate(u)
			}
			r := newRequest("GET", u, nil)
			_, err := newTestVerifier(testNow).Verify(r)
			wantCode(t, err, tc.code)
		})
	}
}

func TestPresignedValidForItsWholeLifetime(t *testing.T) {
	u := presign(t, newRequest("GET", "http://s3.example.test/bucket/key", nil), "604800", testSecret, testNow)
	for _, now := range []time.Time{testNow, testNow.Add(7*24*time.Hour - time.Second)} {
		a, err := newTestVerifier(now).Verify(newRequest("GET", u, nil))
		if err != nil {
			t.Fatalf("at %v: %v", now, err)
		}
		if !a.Presigned || a.AccessKey != testAccessKey || a.PayloadHash != UnsignedPayload {
			t.Fatalf("auth = %+v", a)
		}
	}
	_, err := newTestVerifier(testNow.Add(7*24*time.Hour + time.Second)).Verify(newRequest("GET", u, nil))
	wantCode(t, err, CodeAccessDenied)
}

func TestKeyCacheIsBounded(t *testing.T) {
	c := newKeyCache(4)
	for i := 0; i < 20; i++ {
		scope := Scope{Date: "20261125", Region: fmt.Sprintf("r%d", i), Service: "s3"}
		if got, want := c.get("secret", scope), deriveKey("secret", scope); !bytes.Equal(got, want) {
			t.Fatalf("cached key differs from derived key")
		}
		if c.len() > 4 {
			t.Fatalf("cache holds %d keys, cap 4", c.len())
		}
	}
}
