package gossip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/stratagw/strata/internal/atomicfile"
)

// readPeersFile returns the addresses in the peers file; a missing file
// (or none configured) is an empty list.
func readPeersFile(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read peers file: %w", err)
	}
	var addrs []string
	if err := json.Unmarshal(b, &addrs); err != nil {
		return nil, fmt.Errorf("peers file %s is not a JSON list of addresses: %w", path, err)
	}
	out := addrs[:0]
	for _, a := range addrs {
		if _, _, err := splitHostPort(a); err != nil {
			return nil, fmt.Errorf("peers file %s: bad address %q: %w", path, a, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// writePeersFile replaces the peers file atomically (temp file, fsync,
// rename), so a crash leaves the old list or the new one, never a part.
func writePeersFile(path string, addrs []string) error {
	b, err := json.Marshal(addrs)
	if err != nil {
		return fmt.Errorf("encode peers: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return fmt.Errorf("write peers file: %w", err)
	}
	return nil
}

// removePeersFile deletes the peers file; a missing one is fine.
func removePeersFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove peers file: %w", err)
	}
	return nil
}

// peersDebounce is how long the writer waits for a burst of changes to
// settle before it writes.
func (g *Gossip) peersDebounce() time.Duration {
	if g.cfg.Fast {
		return 50 * time.Millisecond
	}
	return time.Second
}

// peersLoop rewrites the peers file after membership changes, and once
// more on shutdown if a change is pending.
func (g *Gossip) peersLoop(ctx context.Context) {
	defer g.wg.Done()
	var last []string
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.d.dirty:
		}
		select {
		case <-ctx.Done():
		case <-time.After(g.peersDebounce()):
		}
		addrs := g.alivePeerAddrs()
		// Alone, keep the previous list: it is what a lonely node needs
		// to find its cluster again.
		if len(addrs) == 0 || slices.Equal(addrs, last) {
			continue
		}
		if err := writePeersFile(g.cfg.PeersFile, addrs); err != nil {
			g.logger.Warn("gossip: peers file not updated", "err", err)
			continue
		}
		last = addrs
	}
}

// alivePeerAddrs returns the sorted gossip addresses of the other alive
// members.
func (g *Gossip) alivePeerAddrs() []string {
	var addrs []string
	for _, m := range g.Members() {
		if m.State == StateAlive && m.Name != g.cfg.NodeID {
			addrs = append(addrs, m.Addr)
		}
	}
	slices.Sort(addrs)
	return addrs
}

// rejoinLoop periodically joins known members that are not alive: those
// from the peers file and every member seen since start. It heals
// partitions (memberlist stops talking to the dead after a while) and lets
// a restarted node find its cluster without its join targets.
func (g *Gossip) rejoinLoop(ctx context.Context) {
	defer g.wg.Done()
	if len(g.fileAddrs) > 0 {
		g.rejoin(ctx)
	}
	t := time.NewTicker(g.cfg.RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.rejoin(ctx)
		}
	}
}

// rejoin makes one pass over the rejoin candidates.
func (g *Gossip) rejoin(ctx context.Context) {
	addrs := g.rejoinCandidates()
	if len(addrs) == 0 {
		return
	}
	n, err := g.Join(ctx, addrs)
	switch {
	case ctx.Err() != nil:
	case err != nil:
		g.logger.Debug("gossip: rejoin found nobody", "addrs", addrs, "err", err)
	default:
		g.logger.Info("gossip: rejoined", "answered", n)
	}
}

// rejoinCandidates are the known addresses where no alive member is.
// Members that left are not called back: they come back by themselves.
func (g *Gossip) rejoinCandidates() []string {
	skip := map[string]bool{g.localAddr: true}
	var known []string
	for _, m := range g.Members() {
		switch m.State {
		case StateAlive, StateLeft:
			skip[m.Addr] = true
		default:
			known = append(known, m.Addr)
		}
	}
	known = append(known, g.fileAddrs...)
	var out []string
	for _, a := range known {
		if !skip[a] && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
