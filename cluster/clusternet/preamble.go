package clusternet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// ErrOtherCluster means the peer holds this cluster's key but belongs to
// another cluster (another cluster id), e.g. a bootstrap node whose data
// directory was wiped and that started a new cluster on the same address.
var ErrOtherCluster = errors.New("peer belongs to another cluster")

// maxClusterIDLen bounds the cluster id in the preamble. Ids are 32 hex
// characters; the bound only keeps a confused peer from making us read much.
const maxClusterIDLen = 128

// longAgo is a deadline in the past: setting it aborts blocked I/O at once.
var longAgo = time.Unix(1, 0)

// validClusterID reports whether id may travel in the preamble: bounded,
// printable ASCII without spaces, so it is safe to put in logs and errors.
func validClusterID(id string) error {
	if len(id) > maxClusterIDLen {
		return fmt.Errorf("cluster id is %d bytes, at most %d allowed", len(id), maxClusterIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("cluster id has a byte 0x%02x at %d, only printable ASCII is allowed", c, i)
		}
	}
	return nil
}

// exchangeClusterID writes local as one length-prefixed frame, then reads
// the peer's. Both sides write before reading, and a frame is far smaller
// than any socket buffer, so the exchange cannot deadlock. The caller sets
// the deadline.
func exchangeClusterID(conn net.Conn, local string) (string, error) {
	if err := validClusterID(local); err != nil {
		return "", fmt.Errorf("this node's %w", err)
	}
	frame := make([]byte, 1+len(local))
	frame[0] = byte(len(local))
	copy(frame[1:], local)
	if _, err := conn.Write(frame); err != nil {
		return "", fmt.Errorf("send cluster id: %w", err)
	}
	var n [1]byte
	if _, err := io.ReadFull(conn, n[:]); err != nil {
		return "", fmt.Errorf("read cluster id: %w", err)
	}
	if int(n[0]) > maxClusterIDLen {
		return "", fmt.Errorf("peer announced a %d-byte cluster id, at most %d allowed", n[0], maxClusterIDLen)
	}
	peer := make([]byte, n[0])
	if _, err := io.ReadFull(conn, peer); err != nil {
		return "", fmt.Errorf("read cluster id: %w", err)
	}
	if err := validClusterID(string(peer)); err != nil {
		return "", fmt.Errorf("peer's %w", err)
	}
	return string(peer), nil
}

// checkClusterID refuses a peer of another cluster. An empty id belongs to
// a node that has not joined (or bootstrapped) yet and matches any cluster.
func checkClusterID(addr, local, peer string) error {
	if local != "" && peer != "" && local != peer {
		return fmt.Errorf("the peer at %s belongs to cluster %s, this node to cluster %s: %w", addr, peer, local, ErrOtherCluster)
	}
	return nil
}

// agreeOnCluster runs the preamble on an authenticated conn: exchange ids
// and check them. I/O is bounded by deadline and aborted when ctx is done.
// On success the deadline is cleared and conn is returned as a *Conn.
func (id *Identity) agreeOnCluster(ctx context.Context, conn *tls.Conn, deadline time.Time, addr string) (*Conn, error) {
	local := id.localClusterID()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("cluster id exchange: set deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(longAgo) })
	peer, err := exchangeClusterID(conn, local)
	if !stop() {
		// ctx fired: the exchange was (or may have been) cut short.
		return nil, fmt.Errorf("cluster id exchange: %w", context.Cause(ctx))
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("cluster id exchange: %w (%w)", context.DeadlineExceeded, err)
		}
		return nil, fmt.Errorf("cluster id exchange: %w", err)
	}
	if err := checkClusterID(addr, local, peer); err != nil {
		return nil, err
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("cluster id exchange: clear deadline: %w", err)
	}
	return newConn(conn, id, addr, local, peer), nil
}

// Conn is an authenticated connection, as returned by Identity.Dial and
// the Mux's listeners. If this node had no cluster id yet when the
// connection was set up but the peer had one, the check is completed on
// the first Read or Write after this node learns its id: a connection
// accepted by a node that then bootstraps a new cluster must not go on
// carrying the old cluster's raft traffic. On a mismatch the connection is
// closed and Read/Write fail with an error wrapping ErrOtherCluster. (If
// neither side had an id, nothing is left to check against.)
type Conn struct {
	*tls.Conn
	id   *Identity
	addr string // the peer's address, for the error
	peer string // the peer's cluster id at setup
	// pending is set while the check waits for this node's id.
	pending atomic.Bool
}

func newConn(c *tls.Conn, id *Identity, addr, local, peer string) *Conn {
	conn := &Conn{Conn: c, id: id, addr: addr, peer: peer}
	conn.pending.Store(local == "" && peer != "")
	return conn
}

// verify completes a pending cluster id check once this node has an id.
func (c *Conn) verify() error {
	if !c.pending.Load() {
		return nil
	}
	local := c.id.localClusterID()
	if local == "" {
		return nil
	}
	if err := checkClusterID(c.addr, local, c.peer); err != nil {
		_ = c.Conn.Close()
		return err
	}
	c.pending.Store(false)
	return nil
}

// Read reads from the connection. Bytes that arrive after this node
// learned it belongs to another cluster than the peer are not returned.
func (c *Conn) Read(b []byte) (int, error) {
	if err := c.verify(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if verr := c.verify(); verr != nil {
		return 0, verr
	}
	return n, err
}

// Write writes to the connection unless the peer turned out to belong to
// another cluster.
func (c *Conn) Write(b []byte) (int, error) {
	if err := c.verify(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
