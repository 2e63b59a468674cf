package fsm

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// loadUpload returns the upload record id, or a CodeNoSuchUpload error.
func loadUpload(tx *bolt.Tx, id string) (*Upload, error) {
	var u Upload
	ok, err := getRecord(tx.Bucket(bktUploads), id, &u)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(CodeNoSuchUpload, "upload %q does not exist", id)
	}
	return &u, nil
}

// applyCreateUpload records a new multipart upload of an existing bucket.
func applyCreateUpload(tx *bolt.Tx, cmd *CreateUpload) (*Object, error) {
	u := &cmd.Upload
	if err := checkName("upload id", u.ID); err != nil {
		return nil, err
	}
	if err := checkName("bucket name", u.Bucket); err != nil {
		return nil, err
	}
	if err := checkObjectKey(u.Key); err != nil {
		return nil, err
	}
	if tx.Bucket(bktBuckets).Get([]byte(u.Bucket)) == nil {
		return nil, errorf(CodeNoSuchBucket, "bucket %q does not exist", u.Bucket)
	}
	if tx.Bucket(bktUploads).Get([]byte(u.ID)) != nil {
		return nil, invalidf("upload id %q is in use", u.ID)
	}

	if err := putRecord(tx.Bucket(bktUploads), u.ID, u); err != nil {
		return nil, err
	}
	idx, err := tx.Bucket(bktUploadIndex).CreateBucketIfNotExists([]byte(u.Bucket))
	if err != nil {
		return nil, fmt.Errorf("create upload index of %q: %w", u.Bucket, err)
	}
	if err := idx.Put(uploadIndexKey(u), []byte(u.ID)); err != nil {
		return nil, fmt.Errorf("index upload %q: %w", u.ID, err)
	}
	return nil, nil
}

// applyPutPart records or replaces one part of an upload.
func applyPutPart(tx *bolt.Tx, cmd *PutPart) (*Object, error) {
	p := &cmd.Part
	if p.Number < 1 || p.Number > MaxPartNumber {
		return nil, invalidf("part number %d is outside 1..%d", p.Number, MaxPartNumber)
	}
	if p.Size < 0 {
		return nil, invalidf("part %d has negative size %d", p.Number, p.Size)
	}
	u, err := loadUpload(tx, p.UploadID)
	if err != nil {
		return nil, err
	}
	enc, err := encodeRecord(p)
	if err != nil {
		return nil, err
	}
	if err := tx.Bucket(bktParts).Put(partKey(p.UploadID, p.Number), enc); err != nil {
		return nil, fmt.Errorf("put part %d of %q: %w", p.Number, p.UploadID, err)
	}
	// The upload remembers its latest activity so that the reaper can tell
	// an abandoned upload from a long one without reading every part.
	if p.ModTime.After(u.LastPart) {
		u.LastPart = p.ModTime
		if err := putRecord(tx.Bucket(bktUploads), u.ID, u); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// applyCompleteUpload replaces the upload (and its parts) by the object
// record it produced, atomically.
func applyCompleteUpload(tx *bolt.Tx, cmd *CompleteUpload) (*Object, error) {
	u, err := loadUpload(tx, cmd.UploadID)
	if err != nil {
		return nil, err
	}
	o := &cmd.Object
	if err := checkObject(o); err != nil {
		return nil, err
	}
	if o.Bucket != u.Bucket || o.Key != u.Key {
		return nil, invalidf("upload %q is for %s/%s, not %s/%s", u.ID, u.Bucket, u.Key, o.Bucket, o.Key)
	}
	objs, err := objectIndex(tx, o.Bucket)
	if err != nil {
		return nil, err
	}
	if err := deleteUploadRecords(tx, u); err != nil {
		return nil, err
	}
	return replaceObject(objs, o)
}

// applyAbortUpload removes an upload and its parts.
func applyAbortUpload(tx *bolt.Tx, cmd *AbortUpload) (*Object, error) {
	u, err := loadUpload(tx, cmd.UploadID)
	if err != nil {
		return nil, err
	}
	return nil, deleteUploadRecords(tx, u)
}

// deleteUploadRecords removes an upload record, its index entry and its
// parts.
func deleteUploadRecords(tx *bolt.Tx, u *Upload) error {
	id := u.ID
	if idx := tx.Bucket(bktUploadIndex).Bucket([]byte(u.Bucket)); idx != nil {
		if err := idx.Delete(uploadIndexKey(u)); err != nil {
			return fmt.Errorf("unindex upload %q: %w", id, err)
		}
	}
	prefix := partPrefix(id)
	c := tx.Bucket(bktParts).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return fmt.Errorf("delete part of %q: %w", id, err)
		}
	}
	if err := tx.Bucket(bktUploads).Delete([]byte(id)); err != nil {
		return fmt.Errorf("delete upload %q: %w", id, err)
	}
	return nil
}
