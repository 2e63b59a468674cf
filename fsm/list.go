package fsm

import (
	"bytes"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// DefaultMaxKeys is the page size of a listing when none is given.
const DefaultMaxKeys = 1000

// ListObjects implements Reader. It costs one cursor seek per returned
// entry at most: the walk starts at max(Prefix, After), stops at the first
// key outside Prefix, and jumps over everything under a common prefix with
// one Seek instead of visiting those keys. A listing of a missing bucket
// is a CodeNoSuchBucket *Error.
//
// An entry (key, or common prefix when Delimiter is set) is listed when it
// is greater than After; so a page that ended with a common prefix is
// continued past every key under it.
func (f *FSM) ListObjects(bucket string, opts ListOptions) (ListResult, error) {
	var res ListResult
	err := f.view(func(tx *bolt.Tx) error {
		objs, err := objectIndex(tx, bucket)
		if err != nil {
			return err
		}
		res, err = listObjects(objs, opts)
		return err
	})
	return res, wrapRead("object listing", err)
}

// listObjects walks one bucket's object index.
func listObjects(objs *bolt.Bucket, opts ListOptions) (ListResult, error) {
	var res ListResult
	max := opts.MaxKeys
	if max <= 0 {
		max = DefaultMaxKeys
	}
	prefix := []byte(opts.Prefix)
	c := objs.Cursor()
	k, v := seekAfter(c, opts.Prefix, opts.After)
	for k != nil && bytes.HasPrefix(k, prefix) {
		if cp, ok := commonPrefix(k, opts.Prefix, opts.Delimiter); ok {
			if cp > opts.After {
				if len(res.Objects)+len(res.CommonPrefixes) == max {
					res.Truncated = true
					break
				}
				res.CommonPrefixes = append(res.CommonPrefixes, cp)
				res.NextAfter = cp
			}
			next, ok := successor(cp)
			if !ok {
				break
			}
			k, v = c.Seek([]byte(next))
			continue
		}
		if len(res.Objects)+len(res.CommonPrefixes) == max {
			res.Truncated = true
			break
		}
		var o Object
		if err := decodeRecord(v, &o); err != nil {
			return res, err
		}
		normalizeObject(&o)
		res.Objects = append(res.Objects, o)
		res.NextAfter = o.Key
		k, v = c.Next()
	}
	return res, nil
}

// seekAfter positions c on the first key that is >= prefix and > after.
func seekAfter(c *bolt.Cursor, prefix, after string) ([]byte, []byte) {
	if after < prefix {
		return c.Seek([]byte(prefix))
	}
	k, v := c.Seek([]byte(after))
	if k != nil && string(k) == after {
		k, v = c.Next()
	}
	return k, v
}

// commonPrefix returns the common prefix key rolls up into: prefix plus
// everything up to and including the first delimiter after it.
func commonPrefix(key []byte, prefix, delimiter string) (string, bool) {
	if delimiter == "" {
		return "", false
	}
	rest := key[len(prefix):]
	i := bytes.Index(rest, []byte(delimiter))
	if i < 0 {
		return "", false
	}
	return prefix + string(rest[:i+len(delimiter)]), true
}

// commonPrefixString is commonPrefix for string keys.
func commonPrefixString(key, prefix, delimiter string) (string, bool) {
	if delimiter == "" {
		return "", false
	}
	i := strings.Index(key[len(prefix):], delimiter)
	if i < 0 {
		return "", false
	}
	return key[:len(prefix)+i+len(delimiter)], true
}
