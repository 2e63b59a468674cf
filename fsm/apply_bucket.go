package fsm

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// applyCreateBucket adds a bucket in an existing region, with backings on
// existing backends, and its (empty) object index. Bucket naming rules are
// the gateway's to enforce; the FSM only refuses what it cannot store.
func applyCreateBucket(tx *bolt.Tx, cmd *CreateBucket) (*Object, error) {
	b := &cmd.Bucket
	if err := checkName("bucket name", b.Name); err != nil {
		return nil, err
	}
	var existing Bucket
	ok, err := getRecord(tx.Bucket(bktBuckets), b.Name, &existing)
	if err != nil {
		return nil, err
	}
	if ok {
		e := errorf(CodeBucketExists, "bucket %q exists", b.Name)
		e.Owner = existing.Owner
		return nil, e
	}
	if b.Region == "" || tx.Bucket(bktRegions).Get([]byte(b.Region)) == nil {
		return nil, errorf(CodeNoSuchRegion, "region %q does not exist", b.Region)
	}
	for _, bb := range b.Backings {
		if tx.Bucket(bktBackends).Get([]byte(bb.BackendID)) == nil {
			return nil, errorf(CodeNoSuchBackend, "backing bucket %q is on unknown backend %q", bb.Name, bb.BackendID)
		}
	}

	if err := putRecord(tx.Bucket(bktBuckets), b.Name, b); err != nil {
		return nil, err
	}
	// A leftover index of a bucket of the same name cannot exist (DeleteBucket
	// removes it), but start from an empty one regardless.
	if err := deleteNested(tx.Bucket(bktObjects), b.Name); err != nil {
		return nil, err
	}
	if _, err := tx.Bucket(bktObjects).CreateBucket([]byte(b.Name)); err != nil {
		return nil, fmt.Errorf("create object index of %q: %w", b.Name, err)
	}
	return nil, nil
}

// applyDeleteBucket removes an empty bucket with its upload and part
// records.
func applyDeleteBucket(tx *bolt.Tx, cmd *DeleteBucket) (*Object, error) {
	if tx.Bucket(bktBuckets).Get([]byte(cmd.Name)) == nil {
		return nil, errorf(CodeNoSuchBucket, "bucket %q does not exist", cmd.Name)
	}
	if objs := tx.Bucket(bktObjects).Bucket([]byte(cmd.Name)); objs != nil {
		if k, _ := objs.Cursor().First(); k != nil {
			return nil, errorf(CodeBucketNotEmpty, "bucket %q is not empty", cmd.Name)
		}
	}

	if idx := tx.Bucket(bktUploadIndex).Bucket([]byte(cmd.Name)); idx != nil {
		var ids []string
		if err := idx.ForEach(func(_, id []byte) error {
			ids = append(ids, string(id))
			return nil
		}); err != nil {
			return nil, fmt.Errorf("walk uploads of %q: %w", cmd.Name, err)
		}
		for _, id := range ids {
			var u Upload
			ok, err := getRecord(tx.Bucket(bktUploads), id, &u)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue // a dangling index entry goes with the index below
			}
			if err := deleteUploadRecords(tx, &u); err != nil {
				return nil, err
			}
		}
	}
	if err := deleteNested(tx.Bucket(bktUploadIndex), cmd.Name); err != nil {
		return nil, err
	}
	if err := deleteNested(tx.Bucket(bktObjects), cmd.Name); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bktBuckets).Delete([]byte(cmd.Name)); err != nil {
		return nil, fmt.Errorf("delete bucket %q: %w", cmd.Name, err)
	}
	return nil, nil
}

// deleteNested removes the nested bucket name of parent if it exists.
func deleteNested(parent *bolt.Bucket, name string) error {
	if parent.Bucket([]byte(name)) == nil {
		return nil
	}
	if err := parent.DeleteBucket([]byte(name)); err != nil {
		return fmt.Errorf("delete nested bucket %q: %w", name, err)
	}
	return nil
}

// objectIndex returns the object index of an existing bucket, or a
// CodeNoSuchBucket error.
func objectIndex(tx *bolt.Tx, bucket string) (*bolt.Bucket, error) {
	if tx.Bucket(bktBuckets).Get([]byte(bucket)) == nil {
		return nil, errorf(CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	objs := tx.Bucket(bktObjects).Bucket([]byte(bucket))
	if objs == nil {
		return nil, fmt.Errorf("bucket %q has no object index", bucket)
	}
	return objs, nil
}
