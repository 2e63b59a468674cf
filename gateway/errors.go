package gateway

import (
	"fmt"
	"net/http"
)

// ErrorCode is an S3 error code. Every code the gateway can return is in
// errorTable; a test checks that none is missing.
type ErrorCode string

// S3 error codes used by strata.
const (
	ErrAccessDenied                       ErrorCode = "AccessDenied"
	ErrAuthorizationHeaderMalformed       ErrorCode = "AuthorizationHeaderMalformed"
	ErrAuthorizationQueryParametersError  ErrorCode = "AuthorizationQueryParametersError"
	ErrBadDigest                          ErrorCode = "BadDigest"
	ErrBucketAlreadyExists                ErrorCode = "BucketAlreadyExists"
	ErrBucketAlreadyOwnedByYou            ErrorCode = "BucketAlreadyOwnedByYou"
	ErrBucketNotEmpty                     ErrorCode = "BucketNotEmpty"
	ErrEntityTooLarge                     ErrorCode = "EntityTooLarge"
	ErrEntityTooSmall                     ErrorCode = "EntityTooSmall"
	ErrExpiredToken                       ErrorCode = "ExpiredToken"
	ErrIllegalLocationConstraintException ErrorCode = "IllegalLocationConstraintException"
	ErrIncompleteBody                     ErrorCode = "IncompleteBody"
	ErrInternalError                      ErrorCode = "InternalError"
	ErrInvalidAccessKeyID                 ErrorCode = "InvalidAccessKeyId"
	ErrInvalidArgument                    ErrorCode = "InvalidArgument"
	ErrInvalidBucketName                  ErrorCode = "InvalidBucketName"
	ErrInvalidDigest                      ErrorCode = "InvalidDigest"
	ErrInvalidLocationConstraint          ErrorCode = "InvalidLocationConstraint"
	ErrInvalidPart                        ErrorCode = "InvalidPart"
	ErrInvalidPartOrder                   ErrorCode = "InvalidPartOrder"
	ErrInvalidRange                       ErrorCode = "InvalidRange"
	ErrInvalidRequest                     ErrorCode = "InvalidRequest"
	ErrKeyTooLongError                    ErrorCode = "KeyTooLongError"
	ErrMalformedXML                       ErrorCode = "MalformedXML"
	ErrMethodNotAllowed                   ErrorCode = "MethodNotAllowed"
	ErrMissingContentLength               ErrorCode = "MissingContentLength"
	ErrMissingSecurityHeader              ErrorCode = "MissingSecurityHeader"
	ErrNoSuchBucket                       ErrorCode = "NoSuchBucket"
	ErrNoSuchKey                          ErrorCode = "NoSuchKey"
	ErrNoSuchUpload                       ErrorCode = "NoSuchUpload"
	ErrNotImplemented                     ErrorCode = "NotImplemented"
	ErrNotModified                        ErrorCode = "NotModified"
	ErrPreconditionFailed                 ErrorCode = "PreconditionFailed"
	ErrRequestTimeTooSkewed               ErrorCode = "RequestTimeTooSkewed"
	ErrServiceUnavailable                 ErrorCode = "ServiceUnavailable"
	ErrSignatureDoesNotMatch              ErrorCode = "SignatureDoesNotMatch"
	ErrSlowDown                           ErrorCode = "SlowDown"
	ErrTooManyBuckets                     ErrorCode = "TooManyBuckets"
	ErrXAmzContentSHA256Mismatch          ErrorCode = "XAmzContentSHA256Mismatch"
	ErrInvalidChecksum                    ErrorCode = "BadDigest" // S3 reports trailer checksum mismatches as BadDigest
	ErrMalformedTrailer                   ErrorCode = "MalformedTrailerError"
	ErrRequestTimeout                     ErrorCode = "RequestTimeout"
	ErrInvalidObjectName                  ErrorCode = "InvalidObjectName"
	ErrMetadataTooLarge                   ErrorCode = "MetadataTooLarge"
	ErrInvalidURI                         ErrorCode = "InvalidURI"
	ErrInvalidPartNumber                  ErrorCode = "InvalidPartNumber"
)

type errorInfo struct {
	status      int
	description string
}

// errorTable maps every code to its HTTP status and default message.
var errorTable = map[ErrorCode]errorInfo{
	ErrAccessDenied:                       {http.StatusForbidden, "Access Denied"},
	ErrAuthorizationHeaderMalformed:       {http.StatusBadRequest, "The authorization header is malformed."},
	ErrAuthorizationQueryParametersError:  {http.StatusBadRequest, "Error parsing the X-Amz-Credential parameter."},
	ErrBadDigest:                          {http.StatusBadRequest, "The Content-MD5 or checksum you specified did not match what we received."},
	ErrBucketAlreadyExists:                {http.StatusConflict, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."},
	ErrBucketAlreadyOwnedByYou:            {http.StatusConflict, "Your previous request to create the named bucket succeeded and you already own it."},
	ErrBucketNotEmpty:                     {http.StatusConflict, "The bucket you tried to delete is not empty."},
	ErrEntityTooLarge:                     {http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed object size."},
	ErrEntityTooSmall:                     {http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed object size."},
	ErrExpiredToken:                       {http.StatusBadRequest, "The provided token has expired."},
	ErrIllegalLocationConstraintException: {http.StatusBadRequest, "The specified location-constraint is not valid for this request."},
	ErrIncompleteBody:                     {http.StatusBadRequest, "You did not provide the number of bytes specified by the Content-Length HTTP header."},
	ErrInternalError:                      {http.StatusInternalServerError, "We encountered an internal error. Please try again."},
	ErrInvalidAccessKeyID:                 {http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records."},
	ErrInvalidArgument:                    {http.StatusBadRequest, "Invalid Argument"},
	ErrInvalidBucketName:                  {http.StatusBadRequest, "The specified bucket is not valid."},
	ErrInvalidDigest:                      {http.StatusBadRequest, "The Content-MD5 you specified is not valid."},
	ErrInvalidLocationConstraint:          {http.StatusBadRequest, "The specified location constraint is not valid."},
	ErrInvalidPart:                        {http.StatusBadRequest, "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag."},
	ErrInvalidPartOrder:                   {http.StatusBadRequest, "The list of parts was not in ascending order. The parts list must be specified in order by part number."},
	ErrInvalidRange:                       {http.StatusRequestedRangeNotSatisfiable, "The requested range is not satisfiable"},
	ErrInvalidRequest:                     {http.StatusBadRequest, "Invalid Request"},
	ErrKeyTooLongError:                    {http.StatusBadRequest, "Your key is too long"},
	ErrMalformedXML:                       {http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema."},
	ErrMethodNotAllowed:                   {http.StatusMethodNotAllowed, "The specified method is not allowed against this resource."},
	ErrMissingContentLength:               {http.StatusLengthRequired, "You must provide the Content-Length HTTP header."},
	ErrMissingSecurityHeader:              {http.StatusBadRequest, "Your request was missing a required header"},
	ErrNoSuchBucket:                       {http.StatusNotFound, "The specified bucket does not exist"},
	ErrNoSuchKey:                          {http.StatusNotFound, "The specified key does not exist."},
	ErrNoSuchUpload:                       {http.StatusNotFound, "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed."},
	ErrNotImplemented:                     {http.StatusNotImplemented, "A header or query you provided implies functionality that is not implemented."},
	ErrNotModified:                        {http.StatusNotModified, "Not Modified"},
	ErrPreconditionFailed:                 {http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold"},
	ErrRequestTimeTooSkewed:               {http.StatusForbidden, "The difference between the request time and the server's time is too large."},
	ErrServiceUnavailable:                 {http.StatusServiceUnavailable, "The service is unavailable. Please retry."},
	ErrSignatureDoesNotMatch:              {http.StatusForbidden, "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
	ErrSlowDown:                           {http.StatusServiceUnavailable, "Please reduce your request rate."},
	ErrTooManyBuckets:                     {http.StatusBadRequest, "You have attempted to create more buckets than allowed"},
	ErrXAmzContentSHA256Mismatch:          {http.StatusBadRequest, "The provided 'x-amz-content-sha256' header does not match what was computed."},
	ErrMalformedTrailer:                   {http.StatusBadRequest, "The request contained trailing data that was not well-formed or did not conform to our published schema."},
	ErrRequestTimeout:                     {http.StatusBadRequest, "Your socket connection to the server was not read from or written to within the timeout period."},
	ErrInvalidObjectName:                  {http.StatusBadRequest, "The specified object name is not valid."},
	ErrMetadataTooLarge:                   {http.StatusBadRequest, "Your metadata headers exceed the maximum allowed metadata size."},
	ErrInvalidURI:                         {http.StatusBadRequest, "Couldn't parse the specified URI."},
	ErrInvalidPartNumber:                  {http.StatusRequestedRangeNotSatisfiable, "The requested partnumber is not satisfiable"},
}

// APIError is an error destined for the client as S3 error XML.
type APIError struct {
	Code ErrorCode
	// Message overrides the table's description when not empty.
	Message string
	// Status overrides the table's HTTP status when not zero.
	Status int
	// Extra elements added to the error XML (e.g. BucketName, Key).
	Extra map[string]string
	// Cause is logged (never sent to the client).
	Cause error
}

// Error implements error.
func (e *APIError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.message(), e.Cause)
	}
	return string(e.Code) + ": " + e.message()
}

// Unwrap exposes the cause.
func (e *APIError) Unwrap() error { return e.Cause }

func (e *APIError) message() string {
	if e.Message != "" {
		return e.Message
	}
	return errorTable[e.Code].description
}

// HTTPStatus returns the status code sent to the client.
func (e *APIError) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	if info, ok := errorTable[e.Code]; ok {
		return info.status
	}
	return http.StatusInternalServerError
}

// apiErr builds an APIError with the table's message.
func apiErr(code ErrorCode) *APIError { return &APIError{Code: code} }

// apiErrf builds an APIError with a specific message.
func apiErrf(code ErrorCode, format string, args ...any) *APIError {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...)}
}
