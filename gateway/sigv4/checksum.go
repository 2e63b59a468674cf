package sigv4

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strings"
)

// checksumPrefix starts every flexible-checksum header and trailer name.
const checksumPrefix = "x-amz-checksum-"

// crc64NVMETable is the CRC-64/NVME polynomial (reversed) S3 uses.
var crc64NVMETable = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// checksumAlgorithms maps the header suffix to the algorithm name and a
// constructor. Read-only after initialisation.
var checksumAlgorithms = map[string]struct {
	name string
	new  func() hash.Hash
}{
	"crc32":     {"CRC32", func() hash.Hash { return crc32.NewIEEE() }},
	"crc32c":    {"CRC32C", func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
	"crc64nvme": {"CRC64NVME", func() hash.Hash { return crc64.New(crc64NVMETable) }},
	"sha1":      {"SHA1", sha1.New},
	"sha256":    {"SHA256", sha256.New},
}

// Checksum is a flexible checksum (x-amz-checksum-*) the payload is verified
// against, sent as a header or as an aws-chunked trailer.
type Checksum struct {
	// Algorithm is CRC32, CRC32C, CRC64NVME, SHA1 or SHA256.
	Algorithm string
	// Name is the header or trailer name, e.g. x-amz-checksum-crc32.
	Name string
	// Trailer is true when the value arrives as a trailer.
	Trailer bool

	value    string
	verified bool
}

// Value returns the base64 checksum once Body has returned io.EOF (the
// payload matched it); before that it is empty.
func (c *Checksum) Value() string {
	if !c.verified {
		return ""
	}
	return c.value
}

// newChecksum returns the Checksum for a header/trailer name, or false if the
// name is not a supported x-amz-checksum-* name.
func newChecksum(name string, trailer bool) (*Checksum, bool) {
	name = strings.ToLower(name)
	suffix, ok := strings.CutPrefix(name, checksumPrefix)
	if !ok {
		return nil, false
	}
	alg, ok := checksumAlgorithms[suffix]
	if !ok {
		return nil, false
	}
	return &Checksum{Algorithm: alg.name, Name: name, Trailer: trailer}, true
}

func (c *Checksum) hash() hash.Hash {
	return checksumAlgorithms[strings.TrimPrefix(c.Name, checksumPrefix)].new()
}

// validValue reports whether v is the base64 of a digest of this algorithm.
func (c *Checksum) validValue(v string) bool {
	raw, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(raw) == c.hash().Size()
}

// headerChecksum finds the x-amz-checksum-<algorithm> request header, if
// any. S3 allows one; a malformed value is refused up front. Other
// x-amz-checksum-* headers (-mode, -type, -algorithm) are not payload
// checksums and are left to the gateway.
func headerChecksum(r *http.Request) (*Checksum, error) {
	var found *Checksum
	for name, vals := range r.Header {
		c, ok := newChecksum(name, false)
		if !ok {
			continue
		}
		if found != nil || len(vals) != 1 {
			return nil, newErr(CodeInvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		if !c.validValue(vals[0]) {
			return nil, newErr(CodeInvalidRequest, "Value for %s header is invalid.", c.Name)
		}
		c.value = vals[0]
		found = c
	}
	return found, nil
}

// checksumReader computes the checksum of what passes through and, at EOF,
// compares it with the expected value (known up front for a header, after
// the trailer was parsed for a trailer).
type checksumReader struct {
	src      io.Reader
	c        *Checksum
	h        hash.Hash
	expected func() (string, error)
}

func newChecksumReader(src io.Reader, c *Checksum, expected func() (string, error)) *checksumReader {
	return &checksumReader{src: src, c: c, h: c.hash(), expected: expected}
}

func (r *checksumReader) Read(p []byte) (int, error) {
	n, err := r.src.Read(p)
	r.h.Write(p[:n])
	if err != io.EOF {
		return n, err
	}
	want, werr := r.expected()
	if werr != nil {
		return n, werr
	}
	got := base64.StdEncoding.EncodeToString(r.h.Sum(nil))
	if !signatureEqual(got, want) {
		return n, newErr(CodeBadDigest, "The %s you specified did not match the calculated checksum.", r.c.Algorithm)
	}
	r.c.value = want
	r.c.verified = true
	return n, io.EOF
}
