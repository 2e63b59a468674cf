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
// body through while computing their MD5. It withholds the last byte until
// it has drained the underlying body to its end (so the SigV4 layer has
// checked the payload hash or final chunk signature) and compared the
// Content-MD5: a consumer never receives a complete payload that failed
// verification, whatever way it reads (io.ReadFull and io.CopyN drop an
// error that arrives together with the last bytes). On failure the error
// is returned in place of the last byte, so a backend copying from it
// fails and discards the write rather than storing a corrupt object.
type verifyingReader struct {
	r         io.Reader
	remaining int64
	md5       hash.Hash
	wantMD5   []byte
	verified  bool
	err       error // sticky: io.EOF after the last byte, else the failure
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
		// An empty body (or a consumer reading past the end).
		if !v.verified {
			if err := v.finish(); err != nil {
				v.err = err
				return 0, err
			}
		}
		v.err = io.EOF
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if v.remaining == 1 {
		return v.readLast(p)
	}
	if int64(len(p)) > v.remaining-1 {
		p = p[:v.remaining-1]
	}
	n, err := v.r.Read(p)
	v.md5.Write(p[:n])
	v.remaining -= int64(n)
	if err != nil {
		v.err = v.bodyError(err)
		if n > 0 {
			// Hand over what was read; the failure comes next.
			return n, nil
		}
		return 0, v.err
	}
	return n, nil
}

// readLast reads the final byte, verifies everything and only then
// releases it.
func (v *verifyingReader) readLast(p []byte) (int, error) {
	var last [1]byte
	for {
		n, err := v.r.Read(last[:])
		if n == 1 {
			break
		}
		if err != nil {
			v.err = v.bodyError(err)
			return 0, v.err
		}
	}
	v.md5.Write(last[:])
	v.remaining = 0
	if err := v.finish(); err != nil {
		v.err = err
		return 0, err
	}
	p[0] = last[0]
	return 1, nil
}

// bodyError maps an error of the underlying body met before the declared
// size was reached.
func (v *verifyingReader) bodyError(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return &APIError{Code: ErrIncompleteBody, Cause: err}
	}
	return err
}

// finish checks that the body ends here and that the digests match.
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
	v.verified = true
	return nil
}

// VerifyEmpty runs the end-of-body checks of a zero-length body up front:
// a backend storing an empty object need not read at all, and the checks
// must hold before anything is stored.
func (v *verifyingReader) VerifyEmpty() error {
	if v.remaining != 0 {
		return nil
	}
	if _, err := v.Read(make([]byte, 1)); err != io.EOF {
		return err
	}
	return nil
}

// Verified reports whether the whole body was read and every check held.
func (v *verifyingReader) Verified() bool {
	v.settle()
	return v.verified && v.remaining == 0
}

// settle runs the end-of-body checks of a body whose declared length was
// zero if the consumer never read it (a backend writing an empty object
// or part need not call Read), so Verified and Failure tell the truth.
func (v *verifyingReader) settle() {
	if v.remaining == 0 && !v.verified && v.err == nil {
		if err := v.finish(); err != nil {
			v.err = err
		}
	}
}

// Failure is the verification or body read error, if one happened. It
// takes precedence over the error a backend reports for the same failed
// write, which may have lost the original error chain.
func (v *verifyingReader) Failure() error {
	v.settle()
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
