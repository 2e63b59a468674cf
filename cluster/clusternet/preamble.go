package clusternet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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
// On success the deadline is cleared.
func agreeOnCluster(ctx context.Context, conn net.Conn, deadline time.Time, addr, local string) error {
	if err := conn.SetDeadline(deadline); err != nil {
		return fmt.Errorf("cluster id exchange: set deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(longAgo) })
	peer, err := exchangeClusterID(conn, local)
	if !stop() {
		// ctx fired: the exchange was (or may have been) cut short.
		return fmt.Errorf("cluster id exchange: %w", context.Cause(ctx))
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("cluster id exchange: %w (%w)", context.DeadlineExceeded, err)
		}
		return fmt.Errorf("cluster id exchange: %w", err)
	}
	if err := checkClusterID(addr, local, peer); err != nil {
		return err
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("cluster id exchange: clear deadline: %w", err)
	}
	return nil
}
