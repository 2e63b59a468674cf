package sigv4

import (
	"fmt"
	"net/http"
)

// S3 error codes the verifier returns. They match the codes of the gateway's
// error table so the gateway can render an *Error as S3 error XML unchanged.
const (
	CodeAccessDenied                 = "AccessDenied"
	CodeAuthorizationHeaderMalformed = "AuthorizationHeaderMalformed"
	CodeAuthorizationQueryError      = "AuthorizationQueryParametersError"
	CodeBadDigest                    = "BadDigest"
	CodeIncompleteBody               = "IncompleteBody"
	CodeInvalidAccessKeyID           = "InvalidAccessKeyId"
	CodeInvalidArgument              = "InvalidArgument"
	CodeInvalidDigest                = "InvalidDigest"
	CodeInvalidRequest               = "InvalidRequest"
	CodeMalformedTrailer             = "MalformedTrailerError"
	CodeMissingContentLength         = "MissingContentLength"
	CodeMissingSecurityHeader        = "MissingSecurityHeader"
	CodeRequestTimeTooSkewed         = "RequestTimeTooSkewed"
	CodeSignatureDoesNotMatch        = "SignatureDoesNotMatch"
	CodeXAmzContentSHA256Mismatch    = "XAmzContentSHA256Mismatch"
)

// Error is a verification failure destined for the client. Code is the S3
// error code, Message the human-readable text and Status the HTTP status.
type Error struct {
	Code    string
	Message string
	Status  int
}

// Error implements error.
func (e *Error) Error() string {
	return "sigv4: " + e.Code + ": " + e.Message
}

// statusOf gives the HTTP status S3 uses for each code the verifier returns.
func statusOf(code string) int {
	switch code {
	case CodeAccessDenied, CodeInvalidAccessKeyID, CodeRequestTimeTooSkewed, CodeSignatureDoesNotMatch:
		return http.StatusForbidden
	case CodeMissingContentLength:
		return http.StatusLengthRequired
	default:
		return http.StatusBadRequest
	}
}

// newErr builds an *Error with the status S3 uses for code.
func newErr(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: statusOf(code)}
}

// Messages shared by several checks; they are S3's own wording where S3 has one.
const (
	msgSignatureMismatch = "The request signature we calculated does not match the signature you provided. Check your key and signing method."
	msgChunkSignature    = "The chunk signature we calculated does not match the signature you provided."
	msgUnknownKey        = "The AWS Access Key Id you provided does not exist in our records."
	msgSkewed            = "The difference between the request time and the server's time is too large."
	msgIncompleteBody    = "You did not provide the number of bytes specified by the Content-Length HTTP header."
	msgSHA256Mismatch    = "The provided 'x-amz-content-sha256' header does not match what was computed."
	msgUnsupportedAuth   = "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
)
