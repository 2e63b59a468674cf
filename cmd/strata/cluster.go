package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/stratagw/strata/admin/api"
)

// defaultGossipPort completes a join address given without a port.
const defaultGossipPort = "9101"

// clusterTimeout bounds join and leave: the node answers only once it is
// in (or out of) the raft configuration, which may take an election.
const clusterTimeout = 2 * time.Minute

func clusterContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), clusterTimeout)
}

type joinCmd struct {
	adminConn `embed:""`
	JSON      bool     `name:"json" help:"Print the node's view of the cluster as JSON."`
	Addrs     []string `arg:"" name:"HOST:PORT" help:"Gossip address of a member of the cluster to join (port ${gossip_port} when left out); several may be given."`
}

func (c *joinCmd) Run(e env) error {
	addrs := joinAddrs(c.Addrs)
	cl, err := c.connect(e)
	if err != nil {
		return err
	}
	ctx, cancel := clusterContext()
	defer cancel()
	view, err := cl.Join(ctx, addrs)
	if err != nil {
		return err
	}
	return output(e, c.JSON, view, func(w io.Writer) {
		fmt.Fprintf(w, "node %s joined cluster %s\n", view.NodeID, view.ClusterID)
		leader := "none yet"
		if view.Leader != "" {
			leader = view.Leader + " (" + view.LeaderAddr + ")"
		}
		fmt.Fprintf(w, "  raft state:    %s\n  leader:        %s\n  applied index: %d\n  ready:         %s\n",
			view.State, leader, view.AppliedIndex, yesNo(view.Ready))
	})
}

// joinAddrs splits comma-separated arguments (as `server --join` takes
// them) and adds the default gossip port where none is given. Anything
// else is left for the node to validate, so there is one set of rules.
func joinAddrs(args []string) []string {
	var out []string
	for _, arg := range args {
		for _, a := range strings.Split(arg, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			out = append(out, withDefaultPort(a))
		}
	}
	return out
}

func withDefaultPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return addr // neither host nor IPv6 address: the node explains why
	}
	return net.JoinHostPort(host, defaultGossipPort)
}

type leaveCmd struct {
	adminConn `embed:""`
}

func (c *leaveCmd) Run(e env) error {
	cl, err := c.connect(e)
	if err != nil {
		return err
	}
	ctx, cancel := clusterContext()
	defer cancel()
	res, err := cl.Leave(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "node %s left the cluster\n", orDash(res.NodeID))
	return nil
}

type membersCmd struct {
	adminConn `embed:""`
	JSON      bool `name:"json" help:"Print machine-readable JSON."`
}

func (c *membersCmd) Run(e env) error {
	cl, err := c.connect(e)
	if err != nil {
		return err
	}
	ctx, cancel := adminContext()
	defer cancel()
	members, err := cl.Members(ctx)
	if err != nil {
		return err
	}
	return output(e, c.JSON, members, func(w io.Writer) { membersTable(w, members) })
}

func membersTable(w io.Writer, members []api.Member) {
	rows := make([][]string, 0, len(members))
	for _, m := range members {
		applied := "-" // not asked, or did not answer: 0 would look like a real index
		if m.Reachable {
			applied = strconv.FormatUint(m.AppliedIndex, 10)
		}
		rows = append(rows, []string{m.NodeID, orDash(m.RaftRole), yesNo(m.Voter), orDash(m.Gossip), applied,
			orDash(m.S3URL), orDash(m.RaftAddr), orDash(m.GossipAddr)})
	}
	table(w, []string{"NODE", "ROLE", "VOTER", "GOSSIP", "APPLIED", "S3", "RAFT", "GOSSIP-ADDR"}, rows)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

type removeCmd struct {
	adminConn `embed:""`
	NodeID    string `arg:"" name:"NODE-ID" help:"Id of the node to remove (see strata members)."`
}

func (c *removeCmd) Run(e env) error {
	cl, err := c.connect(e)
	if err != nil {
		return err
	}
	ctx, cancel := adminContext()
	defer cancel()
	if err := cl.Remove(ctx, c.NodeID); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "node %s removed\n", c.NodeID)
	return nil
}
