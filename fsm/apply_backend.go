package fsm

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// forEachRecord decodes every record of b in key order into a fresh T and
// calls fn; fn's error stops the walk.
func forEachRecord[T any](b *bolt.Bucket, fn func(key []byte, rec *T) error) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var rec T
		if err := decodeRecord(v, &rec); err != nil {
			return fmt.Errorf("record %q: %w", k, err)
		}
		if err := fn(k, &rec); err != nil {
			return err
		}
	}
	return nil
}

// findBackendByName returns the backend named name; ok is false if none.
// Backends are few, so a scan beats keeping a second index in step.
func findBackendByName(tx *bolt.Tx, name string) (Backend, bool, error) {
	var found Backend
	ok := false
	err := forEachRecord(tx.Bucket(bktBackends), func(_ []byte, b *Backend) error {
		if b.Name == name {
			found, ok = *b, true
		}
		return nil
	})
	return found, ok, err
}

func checkPutBackend(tx *bolt.Tx, cmd *PutBackend) error {
	be := &cmd.Backend
	if err := checkName("backend id", be.ID); err != nil {
		return err
	}
	if err := checkName("backend name", be.Name); err != nil {
		return err
	}
	if be.Type != "fs" && be.Type != "s3" {
		return invalidf("backend type %q is neither fs nor s3", be.Type)
	}
	if tx.Bucket(bktBackends).Get([]byte(be.ID)) != nil {
		return errorf(CodeBackendExists, "a backend with id %q exists", be.ID)
	}
	if _, taken, err := findBackendByName(tx, be.Name); err != nil || taken {
		if err != nil {
			return err
		}
		return errorf(CodeBackendExists, "a backend named %q exists", be.Name)
	}
	if len(cmd.Regions) == 0 {
		return invalidf("backend %q comes without a virtual region", be.Name)
	}
	seen := make(map[string]bool, len(cmd.Regions))
	for _, r := range cmd.Regions {
		if err := checkName("region name", r.Name); err != nil {
			return err
		}
		if seen[r.Name] || tx.Bucket(bktRegions).Get([]byte(r.Name)) != nil {
			return errorf(CodeRegionExists, "region %q exists", r.Name)
		}
		seen[r.Name] = true
		if len(r.Backings) == 0 {
			return invalidf("region %q has no backing region", r.Name)
		}
		for _, br := range r.Backings {
			if br.BackendID != be.ID {
				return invalidf("region %q is backed by backend %q, not by the new backend %q", r.Name, br.BackendID, be.ID)
			}
		}
	}
	return nil
}

// applyPutBackend adds a backend and its virtual regions.
func applyPutBackend(tx *bolt.Tx, cmd *PutBackend) (*Object, error) {
	if err := checkPutBackend(tx, cmd); err != nil {
		return nil, err
	}
	if err := putRecord(tx.Bucket(bktBackends), cmd.Backend.ID, &cmd.Backend); err != nil {
		return nil, err
	}
	for i := range cmd.Regions {
		if err := putRecord(tx.Bucket(bktRegions), cmd.Regions[i].Name, &cmd.Regions[i]); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// applyRemoveBackend removes an unused backend. Regions backed only by it
// go with it; a composite region loses just its backings on it. A default
// region that disappears is cleared.
func applyRemoveBackend(tx *bolt.Tx, cmd *RemoveBackend) (*Object, error) {
	be, ok, err := findBackendByName(tx, cmd.Name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(CodeNoSuchBackend, "no backend named %q", cmd.Name)
	}
	err = forEachRecord(tx.Bucket(bktBuckets), func(_ []byte, b *Bucket) error {
		for _, bb := range b.Backings {
			if bb.BackendID == be.ID {
				return errorf(CodeBackendInUse, "backend %q backs bucket %q", cmd.Name, b.Name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	// All checks passed: from here on only local failures can occur.
	removed, changed, err := regionsWithoutBackend(tx, be.ID)
	if err != nil {
		return nil, err
	}
	regions := tx.Bucket(bktRegions)
	for _, name := range removed {
		if err := regions.Delete([]byte(name)); err != nil {
			return nil, fmt.Errorf("delete region %q: %w", name, err)
		}
	}
	for i := range changed {
		if err := putRecord(regions, changed[i].Name, &changed[i]); err != nil {
			return nil, err
		}
	}
	if err := clearDefaultRegion(tx, removed); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bktBackends).Delete([]byte(be.ID)); err != nil {
		return nil, fmt.Errorf("delete backend %q: %w", be.ID, err)
	}
	return nil, nil
}

// regionsWithoutBackend works out what removing backendID does to the
// regions: those left without backings are removed, the others that lost
// a backing are changed.
func regionsWithoutBackend(tx *bolt.Tx, backendID string) (removed []string, changed []Region, err error) {
	err = forEachRecord(tx.Bucket(bktRegions), func(_ []byte, r *Region) error {
		kept := make([]BackingRegion, 0, len(r.Backings))
		for _, br := range r.Backings {
			if br.BackendID != backendID {
				kept = append(kept, br)
			}
		}
		switch {
		case len(kept) == 0:
			removed = append(removed, r.Name)
		case len(kept) < len(r.Backings):
			r.Backings = kept
			changed = append(changed, *r)
		}
		return nil
	})
	return removed, changed, err
}

// clearDefaultRegion empties ClusterConfig.DefaultRegion if it names one of
// the removed regions.
func clearDefaultRegion(tx *bolt.Tx, removed []string) error {
	cfg, ok, err := loadConfig(tx)
	if err != nil || !ok {
		return err
	}
	for _, name := range removed {
		if cfg.DefaultRegion == name {
			cfg.DefaultRegion = ""
			return storeConfig(tx, &cfg)
		}
	}
	return nil
}

// applyRenameRegion renames a virtual region and every reference to it.
func applyRenameRegion(tx *bolt.Tx, cmd *RenameRegion) (*Object, error) {
	regions := tx.Bucket(bktRegions)
	var r Region
	ok, err := getRecord(regions, cmd.Old, &r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(CodeNoSuchRegion, "region %q does not exist", cmd.Old)
	}
	if cmd.Old == cmd.New {
		return nil, nil
	}
	if err := checkName("new region name", cmd.New); err != nil {
		return nil, err
	}
	if regions.Get([]byte(cmd.New)) != nil {
		return nil, errorf(CodeRegionExists, "region %q exists", cmd.New)
	}

	r.Name = cmd.New
	if err := regions.Delete([]byte(cmd.Old)); err != nil {
		return nil, fmt.Errorf("delete region %q: %w", cmd.Old, err)
	}
	if err := putRecord(regions, cmd.New, &r); err != nil {
		return nil, err
	}
	if err := renameBucketRegions(tx, cmd.Old, cmd.New); err != nil {
		return nil, err
	}
	cfg, ok, err := loadConfig(tx)
	if err != nil || !ok || cfg.DefaultRegion != cmd.Old {
		return nil, err
	}
	cfg.DefaultRegion = cmd.New
	return nil, storeConfig(tx, &cfg)
}

// renameBucketRegions points every bucket in region old at region new.
func renameBucketRegions(tx *bolt.Tx, old, new string) error {
	var moved []Bucket
	buckets := tx.Bucket(bktBuckets)
	err := forEachRecord(buckets, func(_ []byte, b *Bucket) error {
		if b.Region == old {
			b.Region = new
			moved = append(moved, *b)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range moved {
		if err := putRecord(buckets, moved[i].Name, &moved[i]); err != nil {
			return err
		}
	}
	return nil
}
