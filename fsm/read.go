package fsm

import (
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// msgpack decodes timestamps in the local time zone; records are handed out
// in UTC so every node shows the same values.

func normalizeObject(o *Object) { o.ModTime = o.ModTime.UTC() }

func normalizeUpload(u *Upload) { u.Initiated = u.Initiated.UTC() }

// Config implements Reader.
func (f *FSM) Config() (cfg ClusterConfig, ok bool, err error) {
	err = f.view(func(tx *bolt.Tx) error {
		cfg, ok, err = loadConfig(tx)
		return err
	})
	cfg.CreatedAt = cfg.CreatedAt.UTC()
	return cfg, ok, wrapRead("config", err)
}

// Credential implements Reader.
func (f *FSM) Credential(accessKey string) (c Credential, ok bool, err error) {
	err = f.view(func(tx *bolt.Tx) error {
		ok, err = getRecord(tx.Bucket(bktCredentials), accessKey, &c)
		return err
	})
	c.CreatedAt = c.CreatedAt.UTC()
	return c, ok, wrapRead("credential", err)
}

// Backends implements Reader: every backend, ordered by ID.
func (f *FSM) Backends() ([]Backend, error) {
	var out []Backend
	err := f.view(func(tx *bolt.Tx) error {
		return forEachRecord(tx.Bucket(bktBackends), func(_ []byte, b *Backend) error {
			b.CreatedAt = b.CreatedAt.UTC()
			out = append(out, *b)
			return nil
		})
	})
	return out, wrapRead("backends", err)
}

// Backend implements Reader.
func (f *FSM) Backend(id string) (b Backend, ok bool, err error) {
	err = f.view(func(tx *bolt.Tx) error {
		ok, err = getRecord(tx.Bucket(bktBackends), id, &b)
		return err
	})
	b.CreatedAt = b.CreatedAt.UTC()
	return b, ok, wrapRead("backend", err)
}

// BackendByName implements Reader.
func (f *FSM) BackendByName(name string) (b Backend, ok bool, err error) {
	err = f.view(func(tx *bolt.Tx) error {
		b, ok, err = findBackendByName(tx, name)
		return err
	})
	b.CreatedAt = b.CreatedAt.UTC()
	return b, ok, wrapRead("backend by name", err)
}

// Regions implements Reader: every virtual region, ordered by name.
func (f *FSM) Regions() ([]Region, error) {
	var out []Region
	err := f.view(func(tx *bolt.Tx) error {
		return forEachRecord(tx.Bucket(bktRegions), func(_ []byte, r *Region) error {
			out = append(out, *r)
			return nil
		})
	})
	return out, wrapRead("regions", err)
}

// Region implements Reader.
func (f *FSM) Region(name string) (r Region, ok bool, err error) {
	err = f.view(func(tx *bolt.Tx) error {
		ok, err = getRecord(tx.Bucket(bktRegions), name, &r)
		return err
	})
	return r, ok, wrapRead("region", err)
}

// Buckets implements Reader: every bucket, ordered by name.
func (f *FSM) Buckets() ([]Bucket, error) {
	var out []Bucket
	err := f.view(func(tx *bolt.Tx) error {
		return forEachRecord(tx.Bucket(bktBuckets), func(_ []byte, b *Bucket) error {
			b.CreatedAt = b.CreatedAt.UTC()
			out = append(out, *b)
			return nil
		})
	})
	// bbolt keeps keys in byte order, which is name order; sort anyway so
	// the contract does not depend on the key layout.
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, wrapRead("buckets", err)
}

// Bucket implements Reader.
func (f *FSM) Bucket(name string) (b Bucket, ok bool, err error) {
	err = f.view(func(tx *bolt.Tx) error {
		ok, err = getRecord(tx.Bucket(bktBuckets), name, &b)
		return err
	})
	b.CreatedAt = b.CreatedAt.UTC()
	return b, ok, wrapRead("bucket", err)
}

// BucketEmpty implements Reader. A missing bucket is a CodeNoSuchBucket
// *Error.
func (f *FSM) BucketEmpty(name string) (bool, error) {
	empty := false
	err := f.view(func(tx *bolt.Tx) error {
		objs, err := objectIndex(tx, name)
		if err != nil {
			return err
		}
		k, _ := objs.Cursor().First()
		empty = k == nil
		return nil
	})
	return empty, wrapRead("bucket empty", err)
}

// Object implements Reader. A missing bucket reads as a missing object.
func (f *FSM) Object(bucket, key string) (o Object, ok bool, err error) {
	err = f.view(func(tx *bolt.Tx) error {
		objs := tx.Bucket(bktObjects).Bucket([]byte(bucket))
		if objs == nil {
			return nil
		}
		p, err := loadObject(objs, key)
		if err != nil || p == nil {
			return err
		}
		o, ok = *p, true
		return nil
	})
	return o, ok, wrapRead("object", err)
}

// Upload implements Reader.
func (f *FSM) Upload(id string) (u Upload, ok bool, err error) {
	err = f.view(func(tx *bolt.Tx) error {
		ok, err = getRecord(tx.Bucket(bktUploads), id, &u)
		return err
	})
	normalizeUpload(&u)
	return u, ok, wrapRead("upload", err)
}

// wrapRead adds context to a read failure, leaving a deterministic *Error
// (e.g. CodeNoSuchBucket) as it is so callers can match it directly.
func wrapRead(what string, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok {
		return e
	}
	return fmt.Errorf("fsm: read %s: %w", what, err)
}
