package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// attachBody builds the verifying body reader for the payload mode in
// a.PayloadHash. seed is the header signature state for signed streaming
// (nil for presigned and anonymous requests).
func (v *Verifier) attachBody(r *http.Request, a *Auth, seed *chunkSigner) error {
	var raw io.ReadCloser = http.NoBody
	if r.Body != nil {
		raw = r.Body
	}
	var sum *Checksum
	if payloadChecksumHeaders(r) {
		var err error
		if sum, err = headerChecksum(r); err != nil {
			return err
		}
	}
	var src io.Reader = &lengthReader{src: raw, want: r.ContentLength}
	a.DecodedContentLength = r.ContentLength
	switch a.PayloadHash {
	case StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedTrailer:
		chunked, err := v.chunkedBody(r, a, seed, src, sum)
		if err != nil {
			return err
		}
		src = chunked
	default:
		if isSHA256Hex(a.PayloadHash) {
			src = newSHA256Reader(src, a.PayloadHash)
		}
		if sum != nil {
			a.Checksum = sum
			src = newChecksumReader(src, sum, func() (string, error) { return sum.value, nil })
		}
	}
	a.Body = &bodyReader{holdback: holdback{src: src}, closer: raw}
	return nil
}

// payloadChecksumHeaders reports whether x-amz-checksum-* headers describe
// this request's body. On CompleteMultipartUpload they describe the whole
// object instead, which only the gateway can check.
func payloadChecksumHeaders(r *http.Request) bool {
	return !(r.Method == http.MethodPost && r.URL.Query().Has("uploadId"))
}

// chunkedBody sets up the aws-chunked decoder and the checks around it.
func (v *Verifier) chunkedBody(r *http.Request, a *Auth, seed *chunkSigner, src io.Reader, sum *Checksum) (io.Reader, error) {
	signed := a.PayloadHash != StreamingUnsignedTrailer
	withTrailer := a.PayloadHash != StreamingPayload
	if signed && seed == nil {
		return nil, newErr(CodeInvalidRequest, "%s requires Authorization header signing", a.PayloadHash)
	}
	decoded, err := decodedLength(r, signed)
	if err != nil {
		return nil, err
	}
	trailer, err := declaredTrailer(r, withTrailer)
	if err != nil {
		return nil, err
	}
	if trailer != nil && sum != nil {
		return nil, newErr(CodeInvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	}
	cfg := chunkedConfig{maxChunk: v.opts.MaxChunkSize, trailers: withTrailer}
	if signed {
		cfg.signer = seed
	}
	if trailer != nil {
		cfg.trailerName = trailer.Name
	}
	dec := newChunkedReader(src, cfg)
	var out io.Reader = &decodedLengthReader{src: dec, want: decoded}
	switch {
	case trailer != nil:
		a.Checksum = trailer
		out = newChecksumReader(out, trailer, func() (string, error) { return dec.trailerValue(trailer) })
	case sum != nil:
		a.Checksum = sum
		out = newChecksumReader(out, sum, func() (string, error) { return sum.value, nil })
	}
	a.DecodedContentLength = decoded
	a.AWSChunked = true
	return out, nil
}

// decodedLength reads x-amz-decoded-content-length (-1 if absent, which only
// the unsigned trailer form allows).
func decodedLength(r *http.Request, required bool) (int64, error) {
	v := r.Header.Get("X-Amz-Decoded-Content-Length")
	if v == "" {
		if required {
			return 0, newErr(CodeMissingContentLength, "You must provide the x-amz-decoded-content-length HTTP header.")
		}
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || v[0] == '+' {
		return 0, newErr(CodeInvalidArgument, "x-amz-decoded-content-length must be a non-negative integer")
	}
	return n, nil
}

// declaredTrailer reads x-amz-trailer: strata accepts one checksum trailer.
func declaredTrailer(r *http.Request, allowed bool) (*Checksum, error) {
	v := strings.TrimSpace(strings.Join(r.Header.Values("X-Amz-Trailer"), ","))
	if v == "" {
		return nil, nil
	}
	if !allowed {
		return nil, newErr(CodeInvalidRequest, "x-amz-trailer requires a *-TRAILER x-amz-content-sha256")
	}
	if strings.Contains(v, ",") {
		return nil, newErr(CodeInvalidRequest, "Expecting a single x-amz-checksum- trailer. Multiple checksum Types are not allowed.")
	}
	c, ok := newChecksum(strings.TrimSpace(v), true)
	if !ok {
		return nil, newErr(CodeInvalidRequest, "The trailer %s is not supported.", truncate(v))
	}
	return c, nil
}

// lengthReader enforces Content-Length: it never reads past it and turns a
// body that ends early into IncompleteBody.
type lengthReader struct {
	src  io.Reader
	want int64 // -1: unknown
	n    int64
}

func (r *lengthReader) Read(p []byte) (int, error) {
	if r.want >= 0 {
		left := r.want - r.n
		if left <= 0 {
			return 0, io.EOF
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := r.src.Read(p)
	r.n += int64(n)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		return n, newErr(CodeIncompleteBody, msgIncompleteBody)
	case err == io.EOF:
		if r.want >= 0 && r.n < r.want {
			return n, newErr(CodeIncompleteBody, msgIncompleteBody)
		}
		return n, io.EOF
	default:
		return n, fmt.Errorf("sigv4: read request body: %w", err)
	}
}

// sha256Reader checks the payload against x-amz-content-sha256 at EOF.
type sha256Reader struct {
	src  io.Reader
	h    hash.Hash
	want string
}

func newSHA256Reader(src io.Reader, want string) *sha256Reader {
	return &sha256Reader{src: src, h: sha256.New(), want: strings.ToLower(want)}
}

func (r *sha256Reader) Read(p []byte) (int, error) {
	n, err := r.src.Read(p)
	r.h.Write(p[:n])
	if err == io.EOF && !signatureEqual(hex.EncodeToString(r.h.Sum(nil)), r.want) {
		return n, newErr(CodeXAmzContentSHA256Mismatch, msgSHA256Mismatch)
	}
	return n, err
}

// decodedLengthReader checks the decoded payload against
// x-amz-decoded-content-length: more bytes fail at once, fewer at EOF.
type decodedLengthReader struct {
	src  io.Reader
	want int64 // -1: unknown
	n    int64
}

func (r *decodedLengthReader) Read(p []byte) (int, error) {
	n, err := r.src.Read(p)
	r.n += int64(n)
	if r.want < 0 {
		return n, err
	}
	if r.n > r.want {
		return 0, newErr(CodeInvalidRequest, "The decoded payload is longer than x-amz-decoded-content-length.")
	}
	if err == io.EOF && r.n < r.want {
		return n, newErr(CodeIncompleteBody, "The decoded payload is shorter than x-amz-decoded-content-length.")
	}
	return n, err
}

// holdback withholds the last byte it has seen until the source reports a
// clean io.EOF, so the consumer only ever holds the complete payload once
// every check at EOF passed. On any error the withheld byte is dropped.
type holdback struct {
	src  io.Reader
	held byte
	has  bool
	err  error
}

// maxEmptyReads stops a source that keeps returning (0, nil).
const maxEmptyReads = 100

func (h *holdback) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for empty := 0; empty < maxEmptyReads; {
		if h.err != nil {
			if h.err == io.EOF && h.has {
				p[0], h.has = h.held, false
				return 1, nil
			}
			return 0, h.err
		}
		off := 0
		if h.has {
			p[0] = h.held
			off = 1
		}
		var n int
		var err error
		if off == len(p) {
			// Room for the held byte only: read one byte ahead to learn
			// whether the held one is the last.
			var b [1]byte
			n, err = h.src.Read(b[:])
			if n == 1 {
				h.held = b[0]
				return 1, nil
			}
		} else {
			n, err = h.src.Read(p[off:])
		}
		total := off + n
		if err != nil {
			h.err = err
			if err == io.EOF {
				h.has = false
				if total > 0 {
					return total, nil
				}
				continue
			}
			h.has = false
			return 0, err
		}
		if total >= 2 || (total == 1 && off == 0) {
			h.held, h.has = p[total-1], true
			if total-1 > 0 {
				return total - 1, nil
			}
		}
		empty++
	}
	return 0, io.ErrNoProgress
}

// bodyReader is the Auth.Body: the verifying reader plus the original Close.
type bodyReader struct {
	holdback
	closer io.Closer
}

// Close closes the request body.
func (b *bodyReader) Close() error { return b.closer.Close() }
