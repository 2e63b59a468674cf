package clusternet

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// raftStream is the adapter the cluster package is expected to build:
// raft's StreamLayer over the mux's raft listener and RaftDialer.
type raftStream struct {
	net.Listener
	dial func(addr string, timeout time.Duration) (net.Conn, error)
}

func (s raftStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return s.dial(string(addr), timeout)
}

func newRaftTransport(t *testing.T, key []byte, clusterID string) (*raft.NetworkTransport, string) {
	t.Helper()
	id := newID(t, key)
	id.SetClusterID(fixedID(clusterID))
	m, _ := startMux(t, id, time.Second)
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  raftStream{Listener: m.Listener(ProtoRaft), dial: id.RaftDialer()},
		MaxPool: 2,
		Timeout: 2 * time.Second,
		Logger:  hclog.New(&hclog.LoggerOptions{Output: io.Discard}),
	})
	t.Cleanup(func() { _ = tr.Close() })
	return tr, m.Addr().String()
}

// TestRaftTransport runs raft's real network transport over the mux: an
// AppendEntries RPC between two nodes with the same key succeeds, and one
// from a node with another key, or of another cluster with the same key,
// fails saying why.
func TestRaftTransport(t *testing.T) {
	key := newKey(t)
	t1, _ := newRaftTransport(t, key, "c-1")
	t2, addr2 := newRaftTransport(t, key, "c-1")
	stranger, _ := newRaftTransport(t, newKey(t), "c-1")
	wiped, _ := newRaftTransport(t, key, "c-new")

	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case rpc := <-t2.Consumer():
				req, ok := rpc.Command.(*raft.AppendEntriesRequest)
				if !ok {
					rpc.Respond(nil, io.ErrUnexpectedEOF)
					continue
				}
				rpc.Respond(&raft.AppendEntriesResponse{Term: req.Term, LastLog: req.PrevLogEntry + uint64(len(req.Entries)), Success: true}, nil)
			case <-done:
				return
			}
		}
	}()

	req := &raft.AppendEntriesRequest{
		RPCHeader:    raft.RPCHeader{ID: []byte("n1"), Addr: []byte("n1")},
		Term:         7,
		PrevLogEntry: 41,
		Entries:      []*raft.Log{{Index: 42, Term: 7, Type: raft.LogCommand, Data: []byte("put")}},
	}
	for i := range 3 { // later calls reuse the pooled connection
		var resp raft.AppendEntriesResponse
		if err := t1.AppendEntries("n2", raft.ServerAddress(addr2), req, &resp); err != nil {
			t.Fatalf("AppendEntries %d: %v", i, err)
		}
		if !resp.Success || resp.Term != 7 || resp.LastLog != 42 {
			t.Fatalf("AppendEntries %d: response %+v", i, resp)
		}
	}

	var resp raft.AppendEntriesResponse
	err := stranger.AppendEntries("n2", raft.ServerAddress(addr2), req, &resp)
	if err == nil || !strings.Contains(err.Error(), "uses a different cluster key") {
		t.Fatalf("AppendEntries with another key: %v", err)
	}
	err = wiped.AppendEntries("n2", raft.ServerAddress(addr2), req, &resp)
	if err == nil || !strings.Contains(err.Error(), "belongs to cluster c-1, this node to cluster c-new") {
		t.Fatalf("AppendEntries from another cluster: %v", err)
	}
}
