// Package sigv4 owns AWS Signature Version 4 verification for strata's S3 and
// admin APIs: the Authorization header, presigned query URLs, and the request
// body — a plain payload checked against x-amz-content-sha256, aws-chunked
// streams with per-chunk signatures, and unsigned aws-chunked streams with
// checksum trailers. Verification of the body happens as it streams: the
// body reader returns an *Error instead of io.EOF when anything does not
// match, and it withholds the last payload byte until everything is verified,
// so a consumer never sees a complete payload that failed verification.
//
// The package does not decide what an identity may do (that is iam/gateway)
// and never signs requests.
package sigv4

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Payload hash values of x-amz-content-sha256 other than a hex SHA-256.
const (
	UnsignedPayload          = "UNSIGNED-PAYLOAD"
	StreamingPayload         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	// EmptySHA256 is the hex SHA-256 of an empty payload.
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// SecretLookup returns the clear secret key of accessKey; ok is false when
// the key is unknown. An error means the lookup itself failed.
type SecretLookup func(ctx context.Context, accessKey string) (secret string, ok bool, err error)

// Options tune a Verifier; zero values mean the defaults.
type Options struct {
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// MaxSkew is the largest accepted difference between the request time
	// and Now (default 15 minutes).
	MaxSkew time.Duration
	// Service is the credential scope service (default "s3").
	Service string
	// KeyCacheSize bounds the derived signing key cache (default 1024).
	KeyCacheSize int
	// MaxChunkSize is the largest aws-chunked chunk accepted (default 16 MiB).
	MaxChunkSize int64
}

// Verifier checks SigV4 signatures. It is safe for concurrent use.
type Verifier struct {
	lookup SecretLookup
	opts   Options
	keys   *keyCache
}

// NewVerifier returns a Verifier that resolves secrets with lookup.
func NewVerifier(lookup SecretLookup, opts Options) *Verifier {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = 15 * time.Minute
	}
	if opts.Service == "" {
		opts.Service = "s3"
	}
	if opts.KeyCacheSize <= 0 {
		opts.KeyCacheSize = 1024
	}
	if opts.MaxChunkSize <= 0 {
		opts.MaxChunkSize = 16 << 20
	}
	return &Verifier{lookup: lookup, opts: opts, keys: newKeyCache(opts.KeyCacheSize)}
}

// Auth is the outcome of a successful verification.
type Auth struct {
	// AccessKey is the verified access key; empty when Anonymous.
	AccessKey string
	// Anonymous is true when the request carried no signature at all.
	Anonymous bool
	// Body replaces r.Body: it yields the decoded payload and returns an
	// *Error (never io.EOF) when the payload fails verification. It holds
	// back the last payload byte until every check passed, so a consumer
	// that received the whole payload (even without reading to io.EOF)
	// received a verified one; committing still belongs after io.EOF.
	Body io.ReadCloser
	// DecodedContentLength is the payload length, -1 if unknown.
	DecodedContentLength int64
	// Region is the credential scope region (strata serves several virtual
	// regions, so any is accepted here).
	Region string
	// Presigned is true for query-string authentication.
	Presigned bool
	// PayloadHash is the x-amz-content-sha256 value the signature covers.
	PayloadHash string
	// AWSChunked is true when the wire body was aws-chunked; the gateway must
	// then drop "aws-chunked" from the stored Content-Encoding.
	AWSChunked bool
	// Checksum is the x-amz-checksum-* the payload is verified against (from
	// a header or a trailer), nil if the client sent none.
	Checksum *Checksum
}

// Verify authenticates r. On success the returned Auth.Body must be used
// instead of r.Body. Failures the client caused are *Error values; other
// errors (the secret lookup failed) are returned wrapped.
func (v *Verifier) Verify(r *http.Request) (*Auth, error) {
	query, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	authz := r.Header.Values("Authorization")
	presign := isPresigned(query)
	switch {
	case len(authz) > 0 && presign:
		return nil, newErr(CodeInvalidArgument, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	case len(authz) > 1:
		return nil, malformedHeader("more than one Authorization header")
	case len(authz) == 1:
		return v.verifyHeader(r, authz[0], query)
	case presign:
		return v.verifyPresigned(r, query)
	default:
		return v.anonymous(r)
	}
}

// anonymous passes the body through with the checks that need no secret.
func (v *Verifier) anonymous(r *http.Request) (*Auth, error) {
	hash := r.Header.Get("X-Amz-Content-Sha256")
	if hash == "" || !isSHA256Hex(hash) {
		hash = UnsignedPayload
	}
	a := &Auth{Anonymous: true, PayloadHash: hash}
	if err := v.attachBody(r, a, nil); err != nil {
		return nil, err
	}
	return a, nil
}

func (v *Verifier) verifyHeader(r *http.Request, header string, query []queryParam) (*Auth, error) {
	az, err := ParseAuthorization(header)
	if err != nil {
		return nil, err
	}
	hash := r.Header.Get("X-Amz-Content-Sha256")
	if hash == "" {
		return nil, newErr(CodeInvalidRequest, "Missing required header for this request: x-amz-content-sha256")
	}
	if err := checkPayloadHash(hash); err != nil {
		return nil, err
	}
	t, err := requestTime(r)
	if err != nil {
		return nil, err
	}
	if err := v.checkScope(az.Scope, t, malformedHeader); err != nil {
		return nil, err
	}
	if skew := v.opts.Now().Sub(t); skew > v.opts.MaxSkew || skew < -v.opts.MaxSkew {
		return nil, newErr(CodeRequestTimeTooSkewed, msgSkewed)
	}
	if err := checkSignedHeaders(r, az.SignedHeaders, malformedHeader); err != nil {
		return nil, err
	}
	key, err := v.signingKey(r.Context(), az.AccessKey, az.Scope)
	if err != nil {
		return nil, err
	}
	canonical := canonicalRequest(r.Method, canonicalURI(r), canonicalQuery(query, ""),
		canonicalHeaders(r, az.SignedHeaders), az.SignedHeaders, hash)
	if !signatureEqual(signHex(key, stringToSign(t, az.Scope, canonical)), az.Signature) {
		return nil, newErr(CodeSignatureDoesNotMatch, msgSignatureMismatch)
	}
	a := &Auth{AccessKey: az.AccessKey, Region: az.Scope.Region, PayloadHash: hash}
	seed := &chunkSigner{key: key, time: t, scope: az.Scope, prev: az.Signature}
	if err := v.attachBody(r, a, seed); err != nil {
		return nil, err
	}
	return a, nil
}

func (v *Verifier) verifyPresigned(r *http.Request, query []queryParam) (*Auth, error) {
	p, err := parsePresigned(query)
	if err != nil {
		return nil, err
	}
	if err := v.checkScope(p.Scope, p.Date, malformedQuery); err != nil {
		return nil, err
	}
	now := v.opts.Now()
	if p.Date.Sub(now) > v.opts.MaxSkew {
		return nil, newErr(CodeAccessDenied, "Request is not valid yet")
	}
	if now.After(p.Date.Add(p.Expires)) {
		return nil, newErr(CodeAccessDenied, "Request has expired")
	}
	if err := checkSignedHeaders(r, p.SignedHeaders, malformedQuery); err != nil {
		return nil, err
	}
	hash := presignedPayloadHash(r, p)
	if err := checkPayloadHash(hash); err != nil {
		return nil, err
	}
	if strings.HasPrefix(hash, "STREAMING-") {
		return nil, newErr(CodeInvalidRequest, "presigned requests cannot use %s", hash)
	}
	key, err := v.signingKey(r.Context(), p.AccessKey, p.Scope)
	if err != nil {
		return nil, err
	}
	canonical := canonicalRequest(r.Method, canonicalURI(r), canonicalQuery(query, qSignature),
		canonicalHeaders(r, p.SignedHeaders), p.SignedHeaders, hash)
	if !signatureEqual(signHex(key, stringToSign(p.Date, p.Scope, canonical)), p.Signature) {
		return nil, newErr(CodeSignatureDoesNotMatch, msgSignatureMismatch)
	}
	a := &Auth{AccessKey: p.AccessKey, Region: p.Scope.Region, Presigned: true, PayloadHash: hash}
	if err := v.attachBody(r, a, nil); err != nil {
		return nil, err
	}
	return a, nil
}

// presignedPayloadHash is X-Amz-Content-Sha256 from the query, else from a
// signed header, else UNSIGNED-PAYLOAD.
func presignedPayloadHash(r *http.Request, p *presigned) string {
	if p.PayloadHash != "" {
		return p.PayloadHash
	}
	for _, h := range p.SignedHeaders {
		if h == "x-amz-content-sha256" {
			if v := r.Header.Get(h); v != "" {
				return v
			}
		}
	}
	return UnsignedPayload
}

// signingKey looks the secret up and derives (or reuses) the signing key.
func (v *Verifier) signingKey(ctx context.Context, accessKey string, scope Scope) ([]byte, error) {
	secret, ok, err := v.lookup(ctx, accessKey)
	if err != nil {
		return nil, fmt.Errorf("sigv4: look up access key: %w", err)
	}
	if !ok {
		return nil, newErr(CodeInvalidAccessKeyID, msgUnknownKey)
	}
	return v.keys.get(secret, scope), nil
}

// checkScope checks the scope date against the request time and the service.
func (v *Verifier) checkScope(s Scope, t time.Time, fail func(string, ...any) *Error) error {
	if s.Date != t.UTC().Format(scopeDateFormat) {
		return fail("the credential date %s does not match the request date %s", s.Date, t.UTC().Format(scopeDateFormat))
	}
	if s.Service != v.opts.Service {
		return fail("incorrect service %q, this endpoint belongs to %q", truncate(s.Service), v.opts.Service)
	}
	return nil
}

// checkSignedHeaders requires host to be signed and, as S3 does, refuses
// x-amz-* headers that are present but not signed: they change what a request
// does (x-amz-copy-source, x-amz-meta-*) and could otherwise be added or
// altered by anyone holding a presigned URL or sitting on the path.
func checkSignedHeaders(r *http.Request, signed []string, fail func(string, ...any) *Error) error {
	set := make(map[string]bool, len(signed))
	for _, h := range signed {
		set[h] = true
	}
	if !set["host"] {
		return fail("the host header must be signed")
	}
	var unsigned []string
	for name := range r.Header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-amz-") && !set[lower] {
			unsigned = append(unsigned, lower)
		}
	}
	if len(unsigned) > 0 {
		sort.Strings(unsigned)
		return newErr(CodeAccessDenied, "There were headers present in the request which were not signed: %s", truncate(strings.Join(unsigned, ", ")))
	}
	return nil
}

// requestTime reads X-Amz-Date, falling back to Date.
func requestTime(r *http.Request) (time.Time, error) {
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		t, err := time.Parse(amzDateFormat, v)
		if err != nil || len(v) != len(amzDateFormat) {
			return time.Time{}, newErr(CodeAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
		}
		return t, nil
	}
	if v := r.Header.Get("Date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return time.Time{}, newErr(CodeAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
		}
		return t.UTC(), nil
	}
	return time.Time{}, newErr(CodeAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
}

// checkPayloadHash accepts the x-amz-content-sha256 forms strata supports.
func checkPayloadHash(h string) error {
	switch h {
	case UnsignedPayload, StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedTrailer:
		return nil
	}
	if isSHA256Hex(h) {
		return nil
	}
	if strings.HasPrefix(h, "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD") {
		return newErr(CodeInvalidRequest, msgUnsupportedAuth)
	}
	return newErr(CodeInvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
}

func isSHA256Hex(h string) bool {
	return len(h) == 64 && isLowerHex(strings.ToLower(h))
}

func signHex(key []byte, s string) string {
	return hexString(hmacSHA256(key, s))
}
