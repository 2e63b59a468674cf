package gateway

import "net/http"

// unsupportedWriteHeaders are request headers of object writes whose
// meaning strata cannot honour yet. Ignoring them would let a client
// believe its object is encrypted, locked or conditionally written when it
// is not, so they are refused with NotImplemented instead.
var unsupportedWriteHeaders = []string{
	"X-Amz-Server-Side-Encryption",
	"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id",
	"X-Amz-Server-Side-Encryption-Customer-Algorithm",
	"X-Amz-Server-Side-Encryption-Customer-Key",
	"X-Amz-Object-Lock-Mode",
	"X-Amz-Object-Lock-Retain-Until-Date",
	"X-Amz-Object-Lock-Legal-Hold",
	// Conditional writes need a conditional FSM command to be correct
	// across nodes.
	"If-Match",
	"If-None-Match",
}

// checkWriteHeaders refuses object writes that ask for unsupported
// features.
func checkWriteHeaders(h http.Header) error {
	for _, name := range unsupportedWriteHeaders {
		if h.Get(name) != "" {
			return apiErrf(ErrNotImplemented, "The %s header is not supported yet.", name)
		}
	}
	return nil
}
