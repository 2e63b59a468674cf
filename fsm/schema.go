package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"

	"github.com/stratagw/strata/internal/safemsgpack"
)

// Top-level bbolt buckets. Names are part of the on-disk format.
var (
	bktMeta        = []byte("meta")         // keyApplied, keyConfig
	bktCredentials = []byte("credentials")  // access key → Credential
	bktBackends    = []byte("backends")     // backend ID → Backend
	bktRegions     = []byte("regions")      // virtual region name → Region
	bktBuckets     = []byte("buckets")      // bucket name → Bucket
	bktObjects     = []byte("objects")      // bucket name → nested bucket: object key → Object
	bktUploads     = []byte("uploads")      // upload ID → Upload
	bktParts       = []byte("parts")        // partKey(upload ID, number) → Part
	bktUploadIndex = []byte("upload_index") // bucket name → nested bucket: uploadIndexKey → upload ID

	keyApplied = []byte("applied")
	keyConfig  = []byte("config")
)

var topBuckets = [][]byte{
	bktMeta, bktCredentials, bktBackends, bktRegions, bktBuckets,
	bktObjects, bktUploads, bktParts, bktUploadIndex,
}

// readApplied returns the stored applied index (0 when none).
func readApplied(tx *bolt.Tx) uint64 {
	v := tx.Bucket(bktMeta).Get(keyApplied)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func writeApplied(tx *bolt.Tx, index uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], index)
	if err := tx.Bucket(bktMeta).Put(keyApplied, b[:]); err != nil {
		return fmt.Errorf("store applied index: %w", err)
	}
	return nil
}

// encodeRecord encodes a record with sorted map keys, so the same record is
// the same bytes on every node.
func encodeRecord(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return buf.Bytes(), nil
}

func decodeRecord(b []byte, v any) error {
	if err := safemsgpack.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}

// putRecord encodes v and stores it under key in b.
func putRecord(b *bolt.Bucket, key string, v any) error {
	enc, err := encodeRecord(v)
	if err != nil {
		return err
	}
	if err := b.Put([]byte(key), enc); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	return nil
}

// getRecord decodes the record under key into v; ok is false when absent.
func getRecord(b *bolt.Bucket, key string, v any) (bool, error) {
	raw := b.Get([]byte(key))
	if raw == nil {
		return false, nil
	}
	if err := decodeRecord(raw, v); err != nil {
		return false, fmt.Errorf("record %q: %w", key, err)
	}
	return true, nil
}

// partPrefix is the key prefix of every part of an upload: a two-byte
// length followed by the ID, so that no upload's prefix is a prefix of
// another's.
func partPrefix(uploadID string) []byte {
	p := make([]byte, 2, 2+len(uploadID)+4)
	binary.BigEndian.PutUint16(p, uint16(len(uploadID)))
	return append(p, uploadID...)
}

// partKey orders an upload's parts by number (big-endian).
func partKey(uploadID string, number int) []byte {
	return binary.BigEndian.AppendUint32(partPrefix(uploadID), uint32(number))
}

// Object keys inside composite index keys are escaped so that byte order of
// the composite key is the order of (object key, rest): 0x00 becomes
// 0x00 0xFF and the key ends with 0x00 0x01, which sorts before any
// continuation of the key.
const (
	escByte  = 0x00
	escNul   = 0xFF
	escEnd   = 0x01
	escAfter = 0x02 // escEnd+1: seeks past every entry of one key
)

func appendEscaped(dst []byte, key string) []byte {
	for i := 0; i < len(key); i++ {
		if key[i] == escByte {
			dst = append(dst, escByte, escNul)
			continue
		}
		dst = append(dst, key[i])
	}
	return dst
}

// unescapeKey splits an escaped key off the front of b; rest is what
// follows the terminator. ok is false when b is not well formed.
func unescapeKey(b []byte) (key string, rest []byte, ok bool) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != escByte {
			out = append(out, b[i])
			continue
		}
		if i+1 >= len(b) {
			return "", nil, false
		}
		switch b[i+1] {
		case escNul:
			out = append(out, escByte)
			i++
		case escEnd:
			return string(out), b[i+2:], true
		default:
			return "", nil, false
		}
	}
	return "", nil, false
}

// uploadIndexKey orders a bucket's uploads by (key, initiated, id), the
// order of ListMultipartUploads. Times are seconds (sign bit flipped so
// negative values sort first) and nanoseconds, both big-endian.
func uploadIndexKey(u *Upload) []byte {
	k := appendEscaped(make([]byte, 0, len(u.Key)+16+len(u.ID)), u.Key)
	k = append(k, escByte, escEnd)
	k = binary.BigEndian.AppendUint64(k, uint64(u.Initiated.Unix())^(1<<63))
	k = binary.BigEndian.AppendUint32(k, uint32(u.Initiated.Nanosecond()))
	return append(k, u.ID...)
}

// uploadKeySeekPast returns the first index position after every upload of
// key.
func uploadKeySeekPast(key string) []byte {
	k := appendEscaped(make([]byte, 0, len(key)+2), key)
	return append(k, escByte, escAfter)
}

// successor returns the smallest byte string greater than every string
// that starts with p; ok is false when there is none (p is all 0xFF).
func successor(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xFF {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
