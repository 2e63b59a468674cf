package sigv4

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseAuthorization(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	cred := "AKID/20261125/eu-test-1/s3/aws4_request"
	cases := []struct {
		name   string
		header string
		code   string // "" = valid
	}{
		{"canonical", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;x-amz-date, Signature=" + sig, ""},
		{"no spaces", "AWS4-HMAC-SHA256 Credential=" + cred + ",SignedHeaders=host,Signature=" + sig, ""},
		{"other order", "AWS4-HMAC-SHA256 Signature=" + sig + ", Credential=" + cred + ", SignedHeaders=host", ""},
		{"missing signature", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host", CodeAuthorizationHeaderMalformed},
		{"duplicate component", "AWS4-HMAC-SHA256 Credential=" + cred + ", Credential=" + cred + ", SignedHeaders=host, Signature=" + sig, CodeAuthorizationHeaderMalformed},
		{"unknown component", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host, Signature=" + sig + ", Extra=1", CodeAuthorizationHeaderMalformed},
		{"credential too short", "AWS4-HMAC-SHA256 Credential=AKID/20261125/s3/aws4_request, SignedHeaders=host, Signature=" + sig, CodeAuthorizationHeaderMalformed},
		{"credential bad date", "AWS4-HMAC-SHA256 Credential=AKID/2026-11-25/r/s3/aws4_request, SignedHeaders=host, Signature=" + sig, CodeAuthorizationHeaderMalformed},
		{"credential bad terminator", "AWS4-HMAC-SHA256 Credential=AKID/20261125/r/s3/aws5_request, SignedHeaders=host, Signature=" + sig, CodeAuthorizationHeaderMalformed},
		{"credential empty key", "AWS4-HMAC-SHA256 Credential=/20261125/r/s3/aws4_request, SignedHeaders=host, Signature=" + sig, CodeAuthorizationHeaderMalformed},
		{"upper-case signed header", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=Host, Signature=" + sig, CodeAuthorizationHeaderMalformed},
		{"empty signed header", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;;x-amz-date, Signature=" + sig, CodeAuthorizationHeaderMalformed},
		{"repeated signed header", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;host, Signature=" + sig, CodeAuthorizationHeaderMalformed},
		{"short signature", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host, Signature=abc", CodeAuthorizationHeaderMalformed},
		{"upper-case signature", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host, Signature=" + strings.ToUpper(sig), CodeAuthorizationHeaderMalformed},
		{"sigv2", "AWS AKID:c2lnbmF0dXJl", CodeInvalidRequest},
		{"sigv4a", "AWS4-ECDSA-P256-SHA256 Credential=" + cred, CodeInvalidRequest},
		{"unknown scheme", "Bearer abc", CodeInvalidArgument},
		{"empty", "", CodeInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAuthorization(tc.header)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			want := Scope{Date: "20261125", Region: "eu-test-1", Service: "s3"}
			if a.AccessKey != "AKID" || a.Scope != want || a.Signature != sig || a.SignedHeaders[0] != "host" {
				t.Fatalf("parsed %+v", a)
			}
		})
	}
}

func TestPresignedRefusesUnsignedAmzHeaders(t *testing.T) {
	u := presign(t, newRequest("PUT", "http://s3.example.test/bucket/key", nil), "60", testSecret, testNow)
	r := newRequest("PUT", u, []byte("x"))
	r.Header.Set("X-Amz-Copy-Source", "/bucket/secret")
	_, err := newTestVerifier(testNow).Verify(r)
	wantCode(t, err, CodeAccessDenied)
}

func TestPresignedDuplicateParameter(t *testing.T) {
	u := presign(t, newRequest("GET", "http://s3.example.test/bucket/key", nil), "60", testSecret, testNow)
	_, err := newTestVerifier(testNow).Verify(newRequest("GET", u+"&X-Amz-Expires=60", nil))
	wantCode(t, err, CodeAuthorizationQueryError)
}

// A client that declares more bytes than it sends and closes its side gets
// IncompleteBody from a real net/http server.
func TestIncompleteBodyOverTheWire(t *testing.T) {
	srv := verifyServer(t, newTestVerifier(time.Now()))
	payload := bytes.Repeat([]byte("z"), 100)
	r, err := http.NewRequest("PUT", srv.URL+"/bucket/key", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	signHeader(t, r, sha256Hex(payload), testSecret, time.Now())
	var wire bytes.Buffer
	if err := r.Write(&wire); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(wire.Bytes()[:wire.Len()-50]); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), r)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || string(body) != CodeIncompleteBody {
		t.Fatalf("got %d %q, want 400 IncompleteBody", resp.StatusCode, body)
	}
}

// Without X-Amz-Date the Date header gives the request time. The SDK always
// sets X-Amz-Date, so this request is signed with the package's canonical
// form directly; what is under test is the Date fallback and its skew check.
func TestDateHeaderFallback(t *testing.T) {
	sign := func(r *http.Request, at time.Time) {
		scope := Scope{Date: at.Format(scopeDateFormat), Region: testRegion, Service: "s3"}
		signed := []string{"date", "host", "x-amz-content-sha256"}
		r.Header.Set("Date", at.Format(http.TimeFormat))
		r.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
		canonical := canonicalRequest(r.Method, canonicalURI(r), "", canonicalHeaders(r, signed), signed, EmptySHA256)
		sig := signHex(deriveKey(testSecret, scope), stringToSign(at, scope, canonical))
		r.Header.Set("Authorization", Algorithm+" Credential="+testAccessKey+"/"+scope.String()+
			", SignedHeaders="+strings.Join(signed, ";")+", Signature="+sig)
	}
	r := newRequest("GET", "/bucket/key", nil)
	sign(r, testNow)
	if _, err := newTestVerifier(testNow).Verify(r); err != nil {
		t.Fatalf("Date-signed request: %v", err)
	}
	r = newRequest("GET", "/bucket/key", nil)
	sign(r, testNow.Add(-time.Hour))
	_, err := newTestVerifier(testNow).Verify(r)
	wantCode(t, err, CodeRequestTimeTooSkewed)
	r = newRequest("GET", "/bucket/key", nil)
	sign(r, testNow)
	r.Header.Set("Date", "yesterday")
	_, err = newTestVerifier(testNow).Verify(r)
	wantCode(t, err, CodeAccessDenied)
}
