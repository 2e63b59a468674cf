package config

// Overrides are the command-line flags of `strata server`. A nil pointer
// or empty slice means "not given", so the file's value (or the default)
// stays. The struct tags are kong's: cmd/strata embeds Overrides.
type Overrides struct {
	NodeID            *string  `name:"node-id" help:"Node id (default: host name)."`
	DataDir           *string  `name:"data-dir" help:"Data directory (default: ./strata-data)."`
	S3Addr            *string  `name:"s3-addr" help:"S3 API listen address (default :9000)."`
	AdminAddr         *string  `name:"admin-addr" help:"Admin API listen address (default :9001)."`
	RaftAddr          *string  `name:"raft-addr" help:"Raft transport listen address (default :9100)."`
	GossipAddr        *string  `name:"gossip-addr" help:"Gossip listen address (default :9101)."`
	Advertise         *string  `name:"advertise" help:"Host (or host:port) other nodes dial for raft."`
	Bootstrap         bool     `name:"bootstrap" help:"Form a new cluster if this node has no raft state (implied for a node given neither --join nor --advertise: the zero-config development node)."`
	Join              []string `name:"join" help:"Members of an existing cluster to join (HOST:PORT,...)." sep:","`
	ClusterKeyFile    *string  `name:"cluster-key-file" help:"File with the base64 cluster key (else env STRATA_CLUSTER_KEY, else <data-dir>/cluster.key)."`
	Domains           []string `name:"domain" help:"Base domain for virtual-hosted-style requests (repeatable)." sep:"none"`
	FSAllow           []string `name:"fs-allow" help:"Directory under which fs backends may be created (repeatable)." sep:"none"`
	DisableFSLockdown bool     `name:"disable-fs-lockdown" help:"Allow fs backends anywhere on this node's disk."`
	NoDevBackend      bool     `name:"no-dev-backend" help:"Do not add the fs backend \"local\" under <data-dir>/fs when bootstrapping."`
	LogLevel          *string  `name:"log-level" help:"debug, info, warn or error."`
	LogFormat         *string  `name:"log-format" help:"text or json."`
}

// Apply overrides c's fields with every flag that was given. Repeatable
// flags replace the file's list rather than extend it, so the command line
// always says exactly what is used.
func (c *Config) Apply(o Overrides) {
	setIf(&c.NodeID, o.NodeID)
	setIf(&c.DataDir, o.DataDir)
	setIf(&c.S3Addr, o.S3Addr)
	setIf(&c.AdminAddr, o.AdminAddr)
	setIf(&c.RaftAddr, o.RaftAddr)
	setIf(&c.GossipAddr, o.GossipAddr)
	setIf(&c.Advertise, o.Advertise)
	setIf(&c.ClusterKeyFile, o.ClusterKeyFile)
	setIf(&c.LogLevel, o.LogLevel)
	setIf(&c.LogFormat, o.LogFormat)
	if o.Bootstrap {
		c.Bootstrap = true
	}
	if len(o.Join) > 0 {
		c.Join = o.Join
	}
	if len(o.Domains) > 0 {
		c.Domains = o.Domains
	}
	if len(o.FSAllow) > 0 {
		c.FSAllowedRoots = o.FSAllow
	}
	if o.NoDevBackend {
		off := false
		c.DevBackend = &off
	}
	if o.DisableFSLockdown {
		off := false
		c.FSLockdown = &off
	}
}

func setIf(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}
