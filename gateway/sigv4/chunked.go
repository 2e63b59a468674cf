package sigv4

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"
)

// aws-chunked framing limits. A chunk header is "hex-size;chunk-signature=
// <64 hex>\r\n" (about 100 bytes); trailers are short header lines.
const (
	maxChunkLine    = 4096
	maxTrailerLines = 16
	chunkedBufSize  = 64 << 10
	trailerSigName  = "x-amz-trailer-signature"
)

// chunkSigner holds the signature chain of a signed aws-chunked stream: each
// chunk is signed over the previous signature, starting from the request's.
type chunkSigner struct {
	key   []byte
	time  time.Time
	scope Scope
	prev  string
}

// chunkStringToSign is what each chunk signature covers.
func (s *chunkSigner) chunkStringToSign(dataSHA256 []byte) string {
	return "AWS4-HMAC-SHA256-PAYLOAD\n" + s.time.UTC().Format(amzDateFormat) + "\n" + s.scope.String() + "\n" +
		s.prev + "\n" + EmptySHA256 + "\n" + hex.EncodeToString(dataSHA256)
}

// trailerStringToSign is what the trailer signature covers; canonical is the
// trailer lines as "name:value\n".
func (s *chunkSigner) trailerStringToSign(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return "AWS4-HMAC-SHA256-TRAILER\n" + s.time.UTC().Format(amzDateFormat) + "\n" + s.scope.String() + "\n" +
		s.prev + "\n" + hex.EncodeToString(sum[:])
}

// verify checks got against the signature of stringToSign and advances the
// chain on success.
func (s *chunkSigner) verify(stringToSign, got string) bool {
	if !signatureEqual(signHex(s.key, stringToSign), got) {
		return false
	}
	s.prev = got
	return true
}

type chunkedConfig struct {
	// signer verifies chunk (and trailer) signatures; nil for unsigned.
	signer   *chunkSigner
	maxChunk int64
	// trailers: a trailer section follows the last chunk.
	trailers bool
	// trailerName is the declared checksum trailer ("" if none).
	trailerName string
}

// chunkedReader decodes an aws-chunked body as it streams, verifying each
// chunk's signature when it ends. Memory is bounded by its read buffer,
// whatever chunk sizes the client declares.
type chunkedReader struct {
	br  *bufio.Reader
	cfg chunkedConfig

	inChunk   bool
	remaining int64
	dataHash  hash.Hash
	chunkSig  string

	trailer map[string]string
	err     error
}

func newChunkedReader(src io.Reader, cfg chunkedConfig) *chunkedReader {
	return &chunkedReader{br: bufio.NewReaderSize(src, chunkedBufSize), cfg: cfg, dataHash: sha256.New()}
}

// Read implements io.Reader over the decoded payload.
func (c *chunkedReader) Read(p []byte) (int, error) {
	for c.err == nil {
		if c.inChunk && c.remaining > 0 {
			if len(p) == 0 {
				return 0, nil
			}
			if int64(len(p)) > c.remaining {
				p = p[:c.remaining]
			}
			n, err := c.br.Read(p)
			c.remaining -= int64(n)
			if c.cfg.signer != nil {
				c.dataHash.Write(p[:n])
			}
			if err != nil && n < len(p) && c.remaining > 0 {
				c.err = truncated(err)
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if c.inChunk {
			if err := c.endChunk(); err != nil {
				c.err = err
				break
			}
		}
		if err := c.nextChunk(); err != nil {
			c.err = err
		}
	}
	return 0, c.err
}

// trailerValue returns the verified value of the checksum trailer; it is
// called once the decoder reported io.EOF.
func (c *chunkedReader) trailerValue(sum *Checksum) (string, error) {
	v, ok := c.trailer[sum.Name]
	if !ok {
		return "", newErr(CodeMalformedTrailer, "The trailer %s was declared but not sent.", sum.Name)
	}
	if !sum.validValue(v) {
		return "", newErr(CodeMalformedTrailer, "Value for %s trailing header is invalid.", sum.Name)
	}
	return v, nil
}

// endChunk consumes the CRLF after a chunk's data and checks its signature.
func (c *chunkedReader) endChunk() error {
	c.inChunk = false
	if err := c.expectCRLF(); err != nil {
		return err
	}
	return c.checkChunkSignature()
}

func (c *chunkedReader) checkChunkSignature() error {
	if c.cfg.signer == nil {
		return nil
	}
	sum := c.dataHash.Sum(nil)
	c.dataHash.Reset()
	if !c.cfg.signer.verify(c.cfg.signer.chunkStringToSign(sum), c.chunkSig) {
		return newErr(CodeSignatureDoesNotMatch, msgChunkSignature)
	}
	return nil
}

// nextChunk parses a chunk header; the zero-size chunk ends the stream.
func (c *chunkedReader) nextChunk() error {
	line, err := c.readLine()
	if err != nil {
		// Ending between chunks is a truncation too: only the zero-size
		// chunk ends a stream.
		return truncated(err)
	}
	size, sig, err := parseChunkHeader(line, c.cfg.signer != nil, c.cfg.maxChunk)
	if err != nil {
		return err
	}
	c.chunkSig = sig
	if size > 0 {
		c.inChunk, c.remaining = true, size
		return nil
	}
	if err := c.checkChunkSignature(); err != nil {
		return err
	}
	if !c.cfg.trailers {
		if err := c.expectCRLF(); err != nil {
			return err
		}
		return io.EOF
	}
	return c.readTrailers()
}

// parseChunkHeader parses "hex-size[;chunk-signature=sig]" (CRLF removed).
func parseChunkHeader(line string, signed bool, maxChunk int64) (int64, string, error) {
	sizeHex, ext, hasExt := strings.Cut(line, ";")
	if sizeHex == "" || len(sizeHex) > 16 || !isHex(sizeHex) {
		return 0, "", malformedChunk("the chunk size is not hexadecimal")
	}
	size, err := strconv.ParseUint(sizeHex, 16, 64)
	if err != nil || size > uint64(maxChunk) {
		return 0, "", malformedChunk("the chunk size exceeds %d bytes", maxChunk)
	}
	if !signed {
		if hasExt {
			return 0, "", malformedChunk("unexpected chunk extension in an unsigned stream")
		}
		return int64(size), "", nil
	}
	sig, ok := strings.CutPrefix(ext, "chunk-signature=")
	if !hasExt || !ok || !isSignature(sig) {
		return 0, "", malformedChunk("the chunk header lacks a valid chunk-signature")
	}
	return int64(size), sig, nil
}

// readTrailers parses the trailer section: "name:value" lines, then (signed)
// x-amz-trailer-signature, then an empty line. Some clients end the body
// right after the last trailer line; that is accepted.
func (c *chunkedReader) readTrailers() error {
	c.trailer = map[string]string{}
	var canonical strings.Builder
	trailerSig := ""
	for i := 0; ; i++ {
		line, err := c.readLine()
		if err == io.EOF && i > 0 {
			break
		}
		if err != nil {
			return truncated(err)
		}
		if line == "" {
			break
		}
		if i >= maxTrailerLines || trailerSig != "" {
			return newErr(CodeMalformedTrailer, "The trailer section is not well-formed.")
		}
		name, value, err := parseTrailerLine(line)
		if err != nil {
			return err
		}
		if name == trailerSigName && c.cfg.signer != nil {
			trailerSig = value
			continue
		}
		if name != c.cfg.trailerName {
			return newErr(CodeMalformedTrailer, "The trailer %s was not declared in x-amz-trailer.", truncate(name))
		}
		if _, dup := c.trailer[name]; dup {
			return newErr(CodeMalformedTrailer, "The trailer %s is sent twice.", name)
		}
		c.trailer[name] = value
		canonical.WriteString(name + ":" + value + "\n")
	}
	if c.cfg.signer != nil {
		if !isSignature(trailerSig) {
			return newErr(CodeMalformedTrailer, "The trailer section lacks a valid x-amz-trailer-signature.")
		}
		if !c.cfg.signer.verify(c.cfg.signer.trailerStringToSign(canonical.String()), trailerSig) {
			return newErr(CodeSignatureDoesNotMatch, "The trailer signature we calculated does not match the signature you provided.")
		}
	}
	return io.EOF
}

// parseTrailerLine splits "name:value"; the name is lower-cased and the
// value trimmed.
func parseTrailerLine(line string) (string, string, error) {
	name, value, ok := strings.Cut(line, ":")
	name = strings.ToLower(strings.TrimSpace(name))
	if !ok || name == "" || !isHeaderName(name) {
		return "", "", newErr(CodeMalformedTrailer, "The trailer line is not name:value.")
	}
	return name, strings.TrimSpace(value), nil
}

// readLine reads one CRLF-terminated line (without the CRLF), bounded by
// maxChunkLine.
func (c *chunkedReader) readLine() (string, error) {
	var b []byte
	for {
		frag, err := c.br.ReadSlice('\n')
		if len(b)+len(frag) > maxChunkLine {
			return "", malformedChunk("a chunk header or trailer line is too long")
		}
		b = append(b, frag...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF && len(b) == 0 {
			return "", io.EOF
		}
		return "", truncated(err)
	}
	if len(b) < 2 || b[len(b)-2] != '\r' {
		return "", malformedChunk("a chunk header or trailer line does not end with CRLF")
	}
	return string(b[:len(b)-2]), nil
}

func (c *chunkedReader) expectCRLF() error {
	var b [2]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil {
		return truncated(err)
	}
	if b != [2]byte{'\r', '\n'} {
		return malformedChunk("chunk data is not followed by CRLF")
	}
	return nil
}

// truncated maps the end of the wire body inside a frame to IncompleteBody;
// verification errors from below pass through.
func truncated(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return newErr(CodeIncompleteBody, "The aws-chunked body ended inside a chunk.")
	}
	return err
}

func malformedChunk(format string, args ...any) *Error {
	e := newErr(CodeInvalidRequest, format, args...)
	e.Message = "Malformed aws-chunked encoding: " + e.Message + "."
	return e
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
