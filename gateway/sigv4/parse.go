package sigv4

import (
	"strconv"
	"strings"
	"time"
)

// Algorithm is the only signing algorithm strata accepts.
const Algorithm = "AWS4-HMAC-SHA256"

const (
	scopeTerminator = "aws4_request"
	amzDateFormat   = "20060102T150405Z"
	scopeDateFormat = "20060102"
	// maxExpires is S3's limit for presigned URLs: seven days.
	maxExpires = 7 * 24 * 60 * 60
	// maxSignedHeaders bounds the work a hostile header can ask for.
	maxSignedHeaders = 64
)

// Scope is the credential scope of a signature.
type Scope struct {
	// Date is the scope day, YYYYMMDD.
	Date    string
	Region  string
	Service string
}

// String renders the scope as it appears in the string to sign.
func (s Scope) String() string {
	return s.Date + "/" + s.Region + "/" + s.Service + "/" + scopeTerminator
}

// Authorization is a parsed SigV4 Authorization header (or the equivalent
// presigned query parameters).
type Authorization struct {
	AccessKey string
	Scope     Scope
	// SignedHeaders are the lower-case header names, in the order given.
	SignedHeaders []string
	// Signature is the lower-case hex signature.
	Signature string
}

// ParseAuthorization parses an "AWS4-HMAC-SHA256 Credential=…,
// SignedHeaders=…, Signature=…" header value strictly. Other schemes (SigV2
// "AWS AK:sig", SigV4a) are refused as unsupported.
func ParseAuthorization(header string) (*Authorization, error) {
	scheme, rest, _ := strings.Cut(header, " ")
	switch scheme {
	case Algorithm:
	case "AWS", "AWS4-ECDSA-P256-SHA256":
		return nil, newErr(CodeInvalidRequest, msgUnsupportedAuth)
	default:
		return nil, newErr(CodeInvalidArgument, "Unsupported Authorization Type")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, malformedHeader("the component %q is not name=value", truncate(part))
		}
		switch name {
		case "Credential", "SignedHeaders", "Signature":
		default:
			return nil, malformedHeader("unknown component %q", truncate(name))
		}
		if _, dup := fields[name]; dup {
			return nil, malformedHeader("the component %s appears twice", name)
		}
		fields[name] = value
	}
	for _, name := range []string{"Credential", "SignedHeaders", "Signature"} {
		if _, ok := fields[name]; !ok {
			return nil, malformedHeader("the component %s is missing", name)
		}
	}
	a := &Authorization{}
	var err error
	if a.AccessKey, a.Scope, err = parseCredential(fields["Credential"]); err != nil {
		return nil, malformedHeader("%s", err.Error())
	}
	if a.SignedHeaders, err = parseSignedHeaders(fields["SignedHeaders"]); err != nil {
		return nil, malformedHeader("%s", err.Error())
	}
	if !isSignature(fields["Signature"]) {
		return nil, malformedHeader("the signature must be 64 lower-case hex characters")
	}
	a.Signature = fields["Signature"]
	return a, nil
}

func malformedHeader(format string, args ...any) *Error {
	e := newErr(CodeAuthorizationHeaderMalformed, format, args...)
	e.Message = "The authorization header is malformed; " + e.Message + "."
	return e
}

func malformedQuery(format string, args ...any) *Error {
	e := newErr(CodeAuthorizationQueryError, format, args...)
	e.Message = "Error parsing the query-string authentication parameters; " + e.Message + "."
	return e
}

// parseError is a plain parse failure, turned into the right *Error code by
// the caller (header and query report the same faults under different codes).
type parseError string

func (e parseError) Error() string { return string(e) }

// parseCredential splits "AK/YYYYMMDD/region/service/aws4_request".
func parseCredential(cred string) (string, Scope, error) {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return "", Scope{}, parseError("the Credential must be access-key/date/region/service/aws4_request")
	}
	ak, date, region, service, term := parts[0], parts[1], parts[2], parts[3], parts[4]
	switch {
	case ak == "":
		return "", Scope{}, parseError("the Credential has an empty access key")
	case !isScopeDate(date):
		return "", Scope{}, parseError("the Credential date must be YYYYMMDD")
	case region == "":
		return "", Scope{}, parseError("the Credential has an empty region")
	case service == "":
		return "", Scope{}, parseError("the Credential has an empty service")
	case term != scopeTerminator:
		return "", Scope{}, parseError("the Credential must end with aws4_request")
	}
	return ak, Scope{Date: date, Region: region, Service: service}, nil
}

func isScopeDate(s string) bool {
	if len(s) != len(scopeDateFormat) {
		return false
	}
	_, err := time.Parse(scopeDateFormat, s)
	return err == nil
}

// parseSignedHeaders splits "host;x-amz-date"; names must be lower-case,
// non-empty and unique.
func parseSignedHeaders(list string) ([]string, error) {
	if list == "" {
		return nil, parseError("SignedHeaders is empty")
	}
	names := strings.Split(list, ";")
	if len(names) > maxSignedHeaders {
		return nil, parseError("SignedHeaders lists too many headers")
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || !isHeaderName(n) {
			return nil, parseError("SignedHeaders must be lower-case header names separated by ';'")
		}
		if seen[n] {
			return nil, parseError("SignedHeaders names a header twice")
		}
		seen[n] = true
	}
	return names, nil
}

// isHeaderName reports whether n is a lower-case HTTP token.
func isHeaderName(n string) bool {
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isSignature(s string) bool {
	return len(s) == 64 && isLowerHex(s)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Presigned query parameter names.
const (
	qAlgorithm     = "X-Amz-Algorithm"
	qCredential    = "X-Amz-Credential"
	qDate          = "X-Amz-Date"
	qExpires       = "X-Amz-Expires"
	qSignedHeaders = "X-Amz-SignedHeaders"
	qSignature     = "X-Amz-Signature"
	qContentSHA256 = "X-Amz-Content-Sha256"
)

// presigned is a parsed set of presigned URL parameters.
type presigned struct {
	Authorization
	Date    time.Time
	Expires time.Duration
	// PayloadHash is X-Amz-Content-Sha256 from the query, if given.
	PayloadHash string
}

// isPresigned reports whether the query carries SigV4 (or SigV2) query auth.
func isPresigned(q []queryParam) bool {
	for _, p := range q {
		switch p.key {
		case qAlgorithm, qCredential, qSignature, "AWSAccessKeyId":
			return true
		}
	}
	return false
}

// parsePresigned extracts and validates the presigned parameters.
func parsePresigned(q []queryParam) (*presigned, error) {
	vals := map[string]string{}
	for _, p := range q {
		switch p.key {
		case qAlgorithm, qCredential, qDate, qExpires, qSignedHeaders, qSignature, qContentSHA256:
			if _, dup := vals[p.key]; dup {
				return nil, malformedQuery("%s is given twice", p.key)
			}
			vals[p.key] = p.value
		case "AWSAccessKeyId":
			return nil, newErr(CodeInvalidRequest, msgUnsupportedAuth)
		}
	}
	for _, k := range []string{qAlgorithm, qCredential, qDate, qExpires, qSignedHeaders, qSignature} {
		if _, ok := vals[k]; !ok {
			return nil, newErr(CodeAuthorizationQueryError,
				"Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
	}
	if vals[qAlgorithm] != Algorithm {
		return nil, newErr(CodeAuthorizationQueryError, "X-Amz-Algorithm only supports \"%s\"", Algorithm)
	}
	p := &presigned{PayloadHash: vals[qContentSHA256]}
	var err error
	if p.AccessKey, p.Scope, err = parseCredential(vals[qCredential]); err != nil {
		return nil, malformedQuery("%s", err.Error())
	}
	if p.SignedHeaders, err = parseSignedHeaders(vals[qSignedHeaders]); err != nil {
		return nil, malformedQuery("%s", err.Error())
	}
	if !isSignature(vals[qSignature]) {
		return nil, malformedQuery("X-Amz-Signature must be 64 lower-case hex characters")
	}
	p.Signature = vals[qSignature]
	if p.Date, err = time.Parse(amzDateFormat, vals[qDate]); err != nil || len(vals[qDate]) != len(amzDateFormat) {
		return nil, malformedQuery("X-Amz-Date must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z'")
	}
	secs, err := strconv.ParseInt(vals[qExpires], 10, 64)
	if err != nil || vals[qExpires][0] == '+' {
		return nil, newErr(CodeAuthorizationQueryError, "X-Amz-Expires should be a number")
	}
	if secs < 1 {
		return nil, newErr(CodeAuthorizationQueryError, "X-Amz-Expires must be non-negative")
	}
	if secs > maxExpires {
		return nil, newErr(CodeAuthorizationQueryError, "X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	p.Expires = time.Duration(secs) * time.Second
	return p, nil
}

// truncate keeps client-supplied text short in error messages.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
