package fsm

import (
	bolt "go.etcd.io/bbolt"
)

// loadConfig reads the cluster config; ok is false before InitCluster.
func loadConfig(tx *bolt.Tx) (ClusterConfig, bool, error) {
	var cfg ClusterConfig
	ok, err := getRecord(tx.Bucket(bktMeta), string(keyConfig), &cfg)
	return cfg, ok, err
}

func storeConfig(tx *bolt.Tx, cfg *ClusterConfig) error {
	return putRecord(tx.Bucket(bktMeta), string(keyConfig), cfg)
}

// applyInitCluster stores the cluster config and the admin credential. The
// credential of InitCluster is the admin credential by definition, so its
// Admin flag is set whatever the submitter sent.
func applyInitCluster(tx *bolt.Tx, cmd *InitCluster) (*Object, error) {
	_, exists, err := loadConfig(tx)
	if err != nil {
		return nil, err
	}
	if exists {
		return nil, errorf(CodeAlreadyInitialized, "the cluster is already initialised")
	}
	if err := checkName("cluster id", cmd.Config.ClusterID); err != nil {
		return nil, err
	}
	if err := checkName("admin access key", cmd.Admin.AccessKey); err != nil {
		return nil, err
	}
	if len(cmd.Admin.SecretSealed) == 0 {
		return nil, invalidf("admin credential has no sealed secret")
	}
	if cmd.Config.DefaultRegion != "" && tx.Bucket(bktRegions).Get([]byte(cmd.Config.DefaultRegion)) == nil {
		return nil, errorf(CodeNoSuchRegion, "default region %q does not exist", cmd.Config.DefaultRegion)
	}
	admin := cmd.Admin
	admin.Admin = true
	if err := storeConfig(tx, &cmd.Config); err != nil {
		return nil, err
	}
	return nil, putRecord(tx.Bucket(bktCredentials), admin.AccessKey, &admin)
}

// applySetDefaultRegion sets (or, with an empty name, clears) the default
// region. It needs an initialised cluster and an existing region.
func applySetDefaultRegion(tx *bolt.Tx, cmd *SetDefaultRegion) (*Object, error) {
	cfg, ok, err := loadConfig(tx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalidf("the cluster is not initialised")
	}
	if cmd.Region != "" && tx.Bucket(bktRegions).Get([]byte(cmd.Region)) == nil {
		return nil, errorf(CodeNoSuchRegion, "region %q does not exist", cmd.Region)
	}
	cfg.DefaultRegion = cmd.Region
	return nil, storeConfig(tx, &cfg)
}
