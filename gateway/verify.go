package gateway

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"hash"
	"io"
	"net/http"
)

// parseContentMD5 decodes the optional Content-MD5 header. A header that is
// present but not the base64 of 16 bytes is InvalidDigest.
func parseContentMD5(h http.Header) ([]byte, error) {
	vs, ok := h["Content-Md5"]
	if !ok {
		return nil, nil
	}
	v := ""
	if len(vs) > 0 {
		v = vs[0]
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != md5.Size {
		return nil, apiErr(ErrInvalidDigest)
	}
	return b, nil
}

// verifyingReader passes exactly size bytes of a (SigV4-verified) request
// body through while computing their MD5. When the last byte has been
// read it drains the underlying body to its end (so the SigV4 layer checks
// the payload hash or final chunk signature) and compares the Content-MD5;
// a mismatch is returned together with the last bytes INSTEAD of io.EOF,
// so a backend copying from it fails and discards the write rather than
// committing a corrupt object.
type verifyingReader struct {
	r         io.Reader
	remaining int64
	md5       hash.Hash
	wantMD5   []byte
	err       error // sticky: io.EOF once verified, else the failure
}

// newVerifyingReader wraps body; wantMD5 may be nil.
func newVerifyingReader(body io.Reader, size int64, wantMD5 []byte) *verifyingReader {
	return &verifyingReader{r: body, remaining: size, md5: md5.New(), wantMD5: wantMD5}
}

// Read implements io.Reader.
func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.remaining == 0 {
		v.err = v.finish()
		return 0, v.err
	}
	if int64(len(p)) > v.remaining {
		p = p[:v.remaining]
	}
	n, err := v.r.Read(p)
	v.md5.Write(p[:n])
	v.remaining -= int64(n)
	switch {
	case err == io.EOF && v.remaining > 0, errors.Is(err, io.ErrUnexpectedEOF):
		err = &APIError{Code: ErrIncompleteBody, Cause: err}
	case err == io.EOF || (err == nil && v.remaining == 0):
		err = v.finish()
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

// finish checks that the body ends here and that the digests match. It
// returns io.EOF when everything holds.
func (v *verifyingReader) finish() error {
	var probe [1]byte
	for {
		n, err := v.r.Read(probe[:])
		if n > 0 {
			return apiErrf(ErrInvalidRequest, "The request body is longer than its declared length.")
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if v.wantMD5 != nil && !bytes.Equal(v.md5.Sum(nil), v.wantMD5) {
		return apiErr(ErrBadDigest)
	}
	return io.EOF
}

// Verified reports whether the whole body was read and every check held.
func (v *verifyingReader) Verified() bool { return v.err == io.EOF }

// Failure is the verification or body read error, if one happened. It
// takes precedence over the error a backend reports for the same failed
// write, which may have lost the original error chain.
func (v *verifyingReader) Failure() error {
	if v.err == nil || v.err == io.EOF {
		return nil
	}
	return v.err
}

// Sum is the hex-encodable MD5 of the bytes read so far.
func (v *verifyingReader) Sum() []byte { return v.md5.Sum(nil) }

// errBodyNotConsumed is returned when a backend reported success without
// reading the whole body (it would otherwise skip the final checks).
var errBodyNotConsumed = errors.New("backend did not consume the whole request body")
