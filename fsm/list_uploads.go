package fsm

import (
	"bytes"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// DefaultMaxUploads is the page size of ListUploads when none is given.
const DefaultMaxUploads = 1000

// allUploadsPage is how many uploads AllUploads reads per transaction; fn
// runs outside any transaction so it may call back into the FSM.
const allUploadsPage = 256

// ListUploads implements Reader with S3 ListMultipartUploads semantics:
// uploads ordered by (key, initiated, id); KeyMarker alone lists keys after
// it; KeyMarker with UploadIDMarker continues after that upload of that key
// (or after the whole key if the upload is gone); an UploadIDMarker
// without KeyMarker is ignored. Common prefixes count against MaxUploads
// like uploads and are listed when greater than KeyMarker. A missing bucket
// is a CodeNoSuchBucket *Error.
func (f *FSM) ListUploads(bucket string, opts ListUploadsOptions) (ListUploadsResult, error) {
	var res ListUploadsResult
	err := f.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bktBuckets).Get([]byte(bucket)) == nil {
			return errorf(CodeNoSuchBucket, "bucket %q does not exist", bucket)
		}
		idx := tx.Bucket(bktUploadIndex).Bucket([]byte(bucket))
		if idx == nil {
			return nil
		}
		var err error
		res, err = listUploads(tx, idx, opts)
		return err
	})
	return res, wrapRead("upload listing", err)
}

func listUploads(tx *bolt.Tx, idx *bolt.Bucket, opts ListUploadsOptions) (ListUploadsResult, error) {
	var res ListUploadsResult
	max := opts.MaxUploads
	if max <= 0 {
		max = DefaultMaxUploads
	}
	c := idx.Cursor()
	k, v, err := seekUploads(tx, c, opts)
	if err != nil {
		return res, err
	}
	for k != nil {
		key, _, ok := unescapeKey(k)
		if !ok {
			return res, fmt.Errorf("malformed upload index key %x", k)
		}
		if !strings.HasPrefix(key, opts.Prefix) {
			break
		}
		if cp, ok := commonPrefixString(key, opts.Prefix, opts.Delimiter); ok {
			if cp > opts.KeyMarker {
				if len(res.Uploads)+len(res.CommonPrefixes) == max {
					res.Truncated = true
					break
				}
				res.CommonPrefixes = append(res.CommonPrefixes, cp)
				res.NextKeyMarker, res.NextUploadIDMarker = cp, ""
			}
			next, ok := successor(cp)
			if !ok {
				break
			}
			k, v = c.Seek(appendEscaped(nil, next))
			continue
		}
		if len(res.Uploads)+len(res.CommonPrefixes) == max {
			res.Truncated = true
			break
		}
		var u Upload
		ok, err := getRecord(tx.Bucket(bktUploads), string(v), &u)
		if err != nil {
			return res, err
		}
		if !ok {
			return res, fmt.Errorf("upload index names missing upload %q", v)
		}
		normalizeUpload(&u)
		res.Uploads = append(res.Uploads, u)
		res.NextKeyMarker, res.NextUploadIDMarker = u.Key, u.ID
		k, v = c.Next()
	}
	return res, nil
}

// seekUploads positions c on the first index entry the listing starts at.
func seekUploads(tx *bolt.Tx, c *bolt.Cursor, opts ListUploadsOptions) ([]byte, []byte, error) {
	if opts.KeyMarker == "" || opts.KeyMarker < opts.Prefix {
		k, v := c.Seek(appendEscaped(nil, opts.Prefix))
		return k, v, nil
	}
	if opts.UploadIDMarker != "" {
		var u Upload
		ok, err := getRecord(tx.Bucket(bktUploads), opts.UploadIDMarker, &u)
		if err != nil {
			return nil, nil, err
		}
		if ok && u.Key == opts.KeyMarker {
			pos := uploadIndexKey(&u)
			k, v := c.Seek(pos)
			if k != nil && bytes.Equal(k, pos) {
				k, v = c.Next()
			}
			return k, v, nil
		}
	}
	k, v := c.Seek(uploadKeySeekPast(opts.KeyMarker))
	return k, v, nil
}

// AllUploads implements Reader. It walks the uploads in ID order, a page
// per read transaction, and calls fn outside any transaction.
func (f *FSM) AllUploads(fn func(Upload) bool) error {
	after := ""
	for {
		page, err := f.uploadsPage(after)
		if err != nil {
			return err
		}
		for _, u := range page {
			if !fn(u) {
				return nil
			}
		}
		if len(page) < allUploadsPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// uploadsPage reads the next allUploadsPage uploads with ID > after.
func (f *FSM) uploadsPage(after string) ([]Upload, error) {
	var page []Upload
	err := f.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktUploads).Cursor()
		k, v := seekAfter(c, "", after)
		for ; k != nil && len(page) < allUploadsPage; k, v = c.Next() {
			var u Upload
			if err := decodeRecord(v, &u); err != nil {
				return fmt.Errorf("upload %q: %w", k, err)
			}
			normalizeUpload(&u)
			page = append(page, u)
		}
		return nil
	})
	return page, wrapRead("uploads", err)
}

// Parts implements Reader: parts numbered above marker, in number order,
// at most max (0: all). An unknown upload is a CodeNoSuchUpload *Error.
func (f *FSM) Parts(uploadID string, marker, max int) (parts []Part, truncated bool, err error) {
	err = f.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bktUploads).Get([]byte(uploadID)) == nil {
			return errorf(CodeNoSuchUpload, "upload %q does not exist", uploadID)
		}
		if marker >= MaxPartNumber {
			return nil
		}
		marker = max0(marker)
		prefix := partPrefix(uploadID)
		c := tx.Bucket(bktParts).Cursor()
		for k, v := c.Seek(partKey(uploadID, marker+1)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if max > 0 && len(parts) == max {
				truncated = true
				break
			}
			var p Part
			if err := decodeRecord(v, &p); err != nil {
				return fmt.Errorf("part of %q: %w", uploadID, err)
			}
			p.ModTime = p.ModTime.UTC()
			parts = append(parts, p)
		}
		return nil
	})
	return parts, truncated, wrapRead("parts", err)
}

func max0(n int) int {
	if n < 0 {
		return 0
	}
	return n
}
