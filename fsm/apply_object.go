package fsm

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// applyPutObject creates or replaces an object record and returns the one
// it replaced.
func applyPutObject(tx *bolt.Tx, cmd *PutObject) (*Object, error) {
	if err := checkObject(&cmd.Object); err != nil {
		return nil, err
	}
	objs, err := objectIndex(tx, cmd.Object.Bucket)
	if err != nil {
		return nil, err
	}
	if cmd.IfReplicaETag != "" {
		if err := checkReplicaETag(objs, cmd.Object.Key, cmd.IfReplicaETag); err != nil {
			return nil, err
		}
	}
	return replaceObject(objs, &cmd.Object)
}

// checkReplicaETag is PutObject's compare-and-set guard: the record of key
// must exist and its first replica must carry etag.
func checkReplicaETag(objs *bolt.Bucket, key, etag string) error {
	cur, err := loadObject(objs, key)
	if err != nil {
		return err
	}
	if cur == nil {
		return errorf(CodePreconditionFailed, "object %q does not exist", key)
	}
	if len(cur.Replicas) == 0 || cur.Replicas[0].ETag != etag {
		return errorf(CodePreconditionFailed, "object %q: first replica's ETag is not %q", key, etag)
	}
	return nil
}

// replaceObject stores o and returns the record it replaced, if any.
func replaceObject(objs *bolt.Bucket, o *Object) (*Object, error) {
	prev, err := loadObject(objs, o.Key)
	if err != nil {
		return nil, err
	}
	if err := putRecord(objs, o.Key, o); err != nil {
		return nil, err
	}
	return prev, nil
}

// loadObject returns the record of key, or nil.
func loadObject(objs *bolt.Bucket, key string) (*Object, error) {
	var o Object
	ok, err := getRecord(objs, key, &o)
	if err != nil || !ok {
		return nil, err
	}
	normalizeObject(&o)
	return &o, nil
}

// applyDeleteObject removes an object record; a missing key is not an
// error (S3 semantics) unless the delete is conditional, a missing bucket
// is.
func applyDeleteObject(tx *bolt.Tx, cmd *DeleteObject) (*Object, error) {
	objs, err := objectIndex(tx, cmd.Bucket)
	if err != nil {
		return nil, err
	}
	prev, err := loadObject(objs, cmd.Key)
	if err != nil {
		return nil, err
	}
	if err := checkDeleteCondition(cmd, prev); err != nil {
		return nil, err
	}
	if prev == nil {
		return nil, nil
	}
	if err := objs.Delete([]byte(cmd.Key)); err != nil {
		return nil, fmt.Errorf("delete object %q: %w", cmd.Key, err)
	}
	return prev, nil
}

// checkDeleteCondition is DeleteObject's compare-and-delete guard on the
// current record cur (nil when the key has none).
func checkDeleteCondition(cmd *DeleteObject, cur *Object) error {
	if cmd.IfReplicaETag == "" && cmd.IfModTime.IsZero() {
		return nil
	}
	switch {
	case cur == nil:
		return errorf(CodePreconditionFailed, "object %q does not exist", cmd.Key)
	case cmd.IfReplicaETag != "" && (len(cur.Replicas) == 0 || cur.Replicas[0].ETag != cmd.IfReplicaETag):
		return errorf(CodePreconditionFailed, "object %q: first replica's ETag is not %q", cmd.Key, cmd.IfReplicaETag)
	case !cmd.IfModTime.IsZero() && !cur.ModTime.Equal(cmd.IfModTime):
		return errorf(CodePreconditionFailed, "object %q: modification time is not %s", cmd.Key, cmd.IfModTime.UTC().Format(time.RFC3339Nano))
	}
	return nil
}
