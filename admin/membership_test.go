package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stratagw/strata/admin"
	"github.com/stratagw/strata/admin/admintest"
	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/admin/client"
	"github.com/stratagw/strata/cluster"
	"github.com/stratagw/strata/cluster/gossip"
)

// Gossip's refusals of a peer of another cluster or with another key.
var (
	errOtherCluster = fmt.Errorf("the member at 10.0.0.9:9101 is in cluster c-other, this node in c-admintest: %w", gossip.ErrOtherCluster)
	errWrongKey     = fmt.Errorf("the member at 10.0.0.9:9101 uses a different cluster key: %w", gossip.ErrWrongKey)
)

func startMembers(t *testing.T) (*admintest.Node, *admintest.Membership) {
	t.Helper()
	m := &admintest.Membership{}
	n := admintest.Start(t, admintest.Options{Membership: m})
	return n, m
}

func TestMembersList(t *testing.T) {
	n, m := startMembers(t)
	m.Set(func(m *admintest.Membership) {
		m.List = []api.Member{
			{NodeID: "node-3", RaftAddr: "10.0.0.3:9100", GossipAddr: "10.0.0.3:9101", RaftRole: api.RoleNone, Gossip: api.GossipDead},
			{NodeID: "node-1", RaftAddr: "10.0.0.1:9100", GossipAddr: "10.0.0.1:9101", S3URL: "http://10.0.0.1:9000",
				AdminURL: "http://10.0.0.1:9001", RaftRole: api.RoleLeader, Voter: true, Gossip: api.GossipAlive,
				AppliedIndex: 42, Reachable: true},
		}
	})
	got, err := n.Client.Members(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].NodeID != "node-1" || got[1].NodeID != "node-3" || got[0].AppliedIndex != 42 || !got[0].Voter {
		t.Fatalf("members not sorted by node id or not intact: %+v", got)
	}

	// The wire format is the documented snake_case one.
	req, err := n.Client.NewRequest(ctxT(t), http.MethodGet, "/v1/cluster/members", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("raw members: %d %v", resp.StatusCode, err)
	}
	want := map[string]any{
		"node_id": "node-1", "raft_addr": "10.0.0.1:9100", "gossip_addr": "10.0.0.1:9101",
		"s3_url": "http://10.0.0.1:9000", "admin_url": "http://10.0.0.1:9001", "raft_role": "leader",
		"voter": true, "gossip": "alive", "applied_index": float64(42), "reachable": true,
	}
	if !reflect.DeepEqual(raw[0], want) {
		t.Fatalf("wire member:\n got %v\nwant %v", raw[0], want)
	}

	// No members is an empty list, not null.
	m.Set(func(m *admintest.Membership) { m.List = nil })
	req, _ = n.Client.NewRequest(ctxT(t), http.MethodGet, "/v1/cluster/members", nil)
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var empty []api.Member
	if err := json.NewDecoder(resp2.Body).Decode(&empty); err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("empty members: %v %v", empty, err)
	}
}

func TestJoin(t *testing.T) {
	n, m := startMembers(t)
	addrs := []string{"10.0.0.1:9101", "node-2.example:9101", "[fd00::3]:9101"}
	cl, err := n.Client.Join(ctxT(t), addrs)
	if err != nil {
		t.Fatal(err)
	}
	if cl.ClusterID != admintest.ClusterID || cl.NodeID != admintest.NodeID || cl.State != "Leader" || cl.AppliedIndex == 0 {
		t.Fatalf("cluster view after join: %+v", cl)
	}
	joins, _, _ := m.Calls()
	if len(joins) != 1 || !reflect.DeepEqual(joins[0], addrs) {
		t.Fatalf("membership saw joins %v, want one of %v", joins, addrs)
	}
}

func TestJoinValidation(t *testing.T) {
	n, m := startMembers(t)
	many := make([]string, 65)
	for i := range many {
		many[i] = fmt.Sprintf("10.0.0.%d:9101", i)
	}
	manyJSON, _ := json.Marshal(api.JoinRequest{Addrs: many})
	for _, tc := range []struct {
		name, body, msg string
	}{
		{"no body", ``, "not valid JSON"},
		{"not JSON", `addrs=1`, "not valid JSON"},
		{"no addrs", `{}`, "addrs is required"},
		{"empty addrs", `{"addrs":[]}`, "addrs is required"},
		{"unknown field", `{"addrs":["h:1"],"force":true}`, `unknown field "force"`},
		{"trailing data", `{"addrs":["h:1"]} {}`, "data after the JSON document"},
		{"no port", `{"addrs":["10.0.0.1"]}`, `address "10.0.0.1" is not HOST:PORT`},
		{"no host", `{"addrs":[":9101"]}`, `address ":9101" is not HOST:PORT`},
		{"empty", `{"addrs":["h:1",""]}`, `address "" is not HOST:PORT`},
		{"port zero", `{"addrs":["h:0"]}`, `port "0" is not a number from 1 to 65535`},
		{"port too big", `{"addrs":["h:65536"]}`, `port "65536"`},
		{"port name", `{"addrs":["h:gossip"]}`, `port "gossip"`},
		{"too many", string(manyJSON), "at most 64 addrs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, eb := raw(t, n.Client, http.MethodPost, "/v1/cluster/join", tc.body)
			if status != http.StatusBadRequest || eb.Error.Code != api.CodeInvalidRequest || !strings.Contains(eb.Error.Message, tc.msg) {
				t.Fatalf("got %d %+v, want 400 InvalidRequest containing %q", status, eb.Error, tc.msg)
			}
		})
	}
	if joins, _, _ := m.Calls(); len(joins) != 0 {
		t.Fatalf("invalid joins reached the membership: %v", joins)
	}
}

// raw sends a signed request with a literal body and decodes the error
// answer.
func raw(t *testing.T, c *client.Client, method, path, body string) (int, api.ErrorBody) {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	req, err := c.NewRequest(ctxT(t), method, path, b)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb api.ErrorBody
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	return resp.StatusCode, eb
}

func TestLeave(t *testing.T) {
	n, m := startMembers(t)
	res, err := n.Client.Leave(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if res != (api.LeaveResult{Status: "left", NodeID: admintest.NodeID}) {
		t.Fatalf("leave: %+v", res)
	}
	if _, leaves, _ := m.Calls(); leaves != 1 {
		t.Fatalf("membership saw %d leaves", leaves)
	}
	status, eb := raw(t, n.Client, http.MethodPost, "/v1/cluster/leave", `{"now":true}`)
	if status != http.StatusBadRequest || eb.Error.Code != api.CodeInvalidRequest {
		t.Fatalf("leave with a body: %d %+v", status, eb)
	}
	if _, leaves, _ := m.Calls(); leaves != 1 {
		t.Fatalf("a refused leave reached the membership: %d leaves", leaves)
	}
}

// blockingLeave is a Membership whose Leave waits for release and reports
// whether its context was cancelled meanwhile.
type blockingLeave struct {
	admintest.Membership
	entered, release chan struct{}
	ctxErr           chan error
}

func (b *blockingLeave) Leave(ctx context.Context) error {
	close(b.entered)
	<-b.release
	b.ctxErr <- ctx.Err()
	return nil
}

// TestLeaveOutlivesClient: a client that gives up does not cut a leave in
// the middle.
func TestLeaveOutlivesClient(t *testing.T) {
	b := &blockingLeave{entered: make(chan struct{}), release: make(chan struct{}), ctxErr: make(chan error, 1)}
	n := admintest.Start(t, admintest.Options{Membership: b})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := n.Client.Leave(ctx); done <- err }()
	select {
	case <-b.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("leave never reached the membership")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	time.Sleep(50 * time.Millisecond) // let the server notice the closed connection
	close(b.release)
	select {
	case err := <-b.ctxErr:
		if err != nil {
			t.Fatalf("the leave's context was cancelled with the client: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("leave did not return")
	}
}

func TestRemove(t *testing.T) {
	n, m := startMembers(t)
	if err := n.Client.Remove(ctxT(t), "node-3"); err != nil {
		t.Fatal(err)
	}
	if _, _, removes := m.Calls(); !reflect.DeepEqual(removes, []string{"node-3"}) {
		t.Fatalf("membership saw removes %v", removes)
	}
	// The answer is a bare 204.
	req, _ := n.Client.NewRequest(ctxT(t), http.MethodPost, "/v1/cluster/remove", []byte(`{"node_id":"node-4"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.ContentLength > 0 {
		t.Fatalf("remove: %d, %d bytes", resp.StatusCode, resp.ContentLength)
	}

	// A node cannot remove itself: that is what leave is for.
	status, eb := raw(t, n.Client, http.MethodPost, "/v1/cluster/remove", `{"node_id":"`+admintest.NodeID+`"}`)
	if status != http.StatusConflict || eb.Error.Code != api.CodeConflict ||
		eb.Error.Message != "node node-1 is the node you asked; run `strata leave` on it to take it out of the cluster" {
		t.Fatalf("remove self: %d %+v", status, eb)
	}
	for _, body := range []string{`{}`, `{"node_id":""}`, `{"id":"node-3"}`, `[]`} {
		status, eb := raw(t, n.Client, http.MethodPost, "/v1/cluster/remove", body)
		if status != http.StatusBadRequest || eb.Error.Code != api.CodeInvalidRequest {
			t.Errorf("remove %s: %d %+v", body, status, eb)
		}
	}
	if _, _, removes := m.Calls(); len(removes) != 2 {
		t.Fatalf("invalid removes reached the membership: %v", removes)
	}
}

// TestMembershipErrors maps every kind of membership failure on every
// operation to its status, code and message.
func TestMembershipErrors(t *testing.T) {
	n, m := startMembers(t)
	ops := map[string]func() error{
		"members": func() error { _, err := n.Client.Members(ctxT(t)); return err },
		"join":    func() error { _, err := n.Client.Join(ctxT(t), []string{"10.0.0.9:9101"}); return err },
		"leave":   func() error { _, err := n.Client.Leave(ctxT(t)); return err },
		"remove":  func() error { return n.Client.Remove(ctxT(t), "node-9") },
	}
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
		msg    string // the whole message, with %s for the operation's context
	}{
		{"no leader", fmt.Errorf("wait: %w", cluster.ErrNoLeader), 503, api.CodeNotReady, "%swait: no raft leader; retry later"},
		{"timeout", fmt.Errorf("add voter: %w", cluster.ErrTimeout), 503, api.CodeNotReady, "%sadd voter: raft timeout; retry later"},
		{"not leader", fmt.Errorf("leader is node-2: %w", cluster.ErrNotLeader), 503, api.CodeNotReady, "%sleader is node-2: not the raft leader; retry later"},
		{"not sent", fmt.Errorf("forward to 10.0.0.2:9100: %w", cluster.ErrNotSent), 503, api.CodeNotReady, "%sforward to 10.0.0.2:9100: request not delivered; retry later"},
		{"other cluster", fmt.Errorf("gossip join: %w", errOtherCluster), 409, api.CodeConflict, "%sgossip join: " + errOtherCluster.Error()},
		{"wrong key", fmt.Errorf("gossip join: %w", errWrongKey), 409, api.CodeConflict, "%sgossip join: " + errWrongKey.Error()},
		{"refused", fmt.Errorf("%w: this node is the only voter", admin.ErrRefused), 409, api.CodeConflict, "%srefused: this node is the only voter"},
		{"anything else", errors.New("no member answered: connection refused"), 503, api.CodeNotReady, "%sno member answered: connection refused"},
	} {
		for op, call := range ops {
			t.Run(tc.name+"/"+op, func(t *testing.T) {
				m.Set(func(m *admintest.Membership) {
					m.MembersErr, m.JoinErr, m.LeaveErr, m.RemoveErr = tc.err, tc.err, tc.err, tc.err
				})
				prefix := map[string]string{"members": "list members: ", "join": "join [10.0.0.9:9101]: ", "leave": "leave: ", "remove": "remove node-9: "}[op]
				ae := apiErr(t, call(), tc.status, tc.code)
				if want := fmt.Sprintf(tc.msg, prefix); ae.Message != want {
					t.Fatalf("message %q, want %q", ae.Message, want)
				}
			})
		}
	}

	for _, tc := range []struct {
		err    error
		status int
		code   string
		msg    string
	}{
		{fmt.Errorf("raft config: %w", admin.ErrUnknownNode), 404, api.CodeNotFound, "node node-9 is not a member of the cluster"},
		{fmt.Errorf("gossip: %w", admin.ErrMemberAlive), 409, api.CodeConflict, "node node-9 is alive; stop it or run `strata leave` on it first"},
	} {
		m.Set(func(m *admintest.Membership) { m.RemoveErr = tc.err })
		ae := apiErr(t, ops["remove"](), tc.status, tc.code)
		if ae.Message != tc.msg {
			t.Errorf("remove with %v: message %q, want %q", tc.err, ae.Message, tc.msg)
		}
	}
}

func TestClusteringDisabled(t *testing.T) {
	n := admintest.Start(t, admintest.Options{})
	for name, call := range map[string]func() error{
		"members": func() error { _, err := n.Client.Members(ctxT(t)); return err },
		"join":    func() error { _, err := n.Client.Join(ctxT(t), []string{"10.0.0.9:9101"}); return err },
		"leave":   func() error { _, err := n.Client.Leave(ctxT(t)); return err },
		"remove":  func() error { return n.Client.Remove(ctxT(t), "node-9") },
	} {
		ae := apiErr(t, call(), http.StatusNotImplemented, api.CodeNotImplemented)
		if ae.Message != "clustering is not enabled on this node" {
			t.Errorf("%s: %q", name, ae.Message)
		}
	}
	// The rest of the admin API works.
	if cl, err := n.Client.Cluster(ctxT(t)); err != nil || cl.ClusterID != admintest.ClusterID {
		t.Fatalf("cluster: %+v %v", cl, err)
	}
}

func TestMembershipAuth(t *testing.T) {
	n, m := startMembers(t)
	anonymous, err := client.New(n.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := client.New(n.URL, admintest.AccessKey, "not-the-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*client.Client{"unsigned": anonymous, "wrong secret": wrong} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Members(ctxT(t))
			apiErr(t, err, http.StatusForbidden, api.CodeAccessDenied)
			_, err = c.Join(ctxT(t), []string{"10.0.0.9:9101"})
			apiErr(t, err, http.StatusForbidden, api.CodeAccessDenied)
			_, err = c.Leave(ctxT(t))
			apiErr(t, err, http.StatusForbidden, api.CodeAccessDenied)
			apiErr(t, c.Remove(ctxT(t), "node-9"), http.StatusForbidden, api.CodeAccessDenied)
		})
	}
	if joins, leaves, removes := m.Calls(); len(joins)+leaves+len(removes) != 0 {
		t.Fatalf("refused requests reached the membership: %v %d %v", joins, leaves, removes)
	}

	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/v1/cluster/join"},
		{http.MethodPost, "/v1/cluster/members"},
		{http.MethodGet, "/v1/cluster/leave"},
		{http.MethodDelete, "/v1/cluster/remove"},
	} {
		status, eb := raw(t, n.Client, tc.method, tc.path, "")
		if status != http.StatusMethodNotAllowed || eb.Error.Code != api.CodeMethodNotAllowed {
			t.Errorf("%s %s: %d %+v", tc.method, tc.path, status, eb)
		}
	}
}
