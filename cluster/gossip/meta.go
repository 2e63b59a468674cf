package gossip

import (
	"fmt"

	"github.com/hashicorp/memberlist"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/stratagw/strata/internal/safemsgpack"
)

// Meta is what a node tells the other members about itself. It travels in
// every alive message, so it is kept small: memberlist refuses more than
// memberlist.MetaMaxSize (512) bytes.
type Meta struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	S3URL    string `json:"s3_url"`
	AdminURL string `json:"admin_url"`
	// ClusterID is empty until the node belongs to a bootstrapped cluster.
	ClusterID string `json:"cluster_id"`
}

// wireMeta is Meta as gossiped. Leaving is set just before a graceful
// leave: memberlist's leave hook cannot tell a leave from a death (the
// node it passes always says alive), so the receivers learn it from the
// leaving member's last meta.
type wireMeta struct {
	NodeID    string `msgpack:"n"`
	RaftAddr  string `msgpack:"r"`
	S3URL     string `msgpack:"s"`
	AdminURL  string `msgpack:"a"`
	ClusterID string `msgpack:"c"`
	Leaving   bool   `msgpack:"l,omitempty"`
}

// encodeMeta returns the wire form of m, or an error if it does not fit
// into an alive message.
func encodeMeta(m Meta, leaving bool) ([]byte, error) {
	w := wireMeta{NodeID: m.NodeID, RaftAddr: m.RaftAddr, S3URL: m.S3URL, AdminURL: m.AdminURL, ClusterID: m.ClusterID, Leaving: leaving}
	b, err := msgpack.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("encode node meta: %w", err)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, errTooLong(len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

// errTooLong reports an encoded meta over memberlist's limit.
func errTooLong(n, limit int) error {
	return fmt.Errorf("node meta is %d bytes encoded, the limit is %d (shorten the URLs or addresses)", n, limit)
}

// decodeMeta parses the meta of another member and whether it announced
// it is leaving. Empty input is a member that sent none (zero Meta).
func decodeMeta(b []byte) (Meta, bool, error) {
	if len(b) == 0 {
		return Meta{}, false, nil
	}
	var w wireMeta
	if err := safemsgpack.Unmarshal(b, &w); err != nil {
		return Meta{}, false, fmt.Errorf("decode node meta: %w", err)
	}
	return Meta{NodeID: w.NodeID, RaftAddr: w.RaftAddr, S3URL: w.S3URL, AdminURL: w.AdminURL, ClusterID: w.ClusterID}, w.Leaving, nil
}
