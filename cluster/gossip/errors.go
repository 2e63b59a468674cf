package gossip

import (
	"errors"
	"fmt"
	"strings"
)

// ErrWrongKey: the other member encrypts gossip with another key, so it
// does not hold this cluster's key. Retrying cannot help.
var ErrWrongKey = errors.New("member uses a different cluster key")

// ErrOtherCluster: the other member belongs to another (bootstrapped)
// cluster; merging the two was refused. Retrying cannot help.
var ErrOtherCluster = errors.New("member belongs to another cluster")

// wrongKeyError names the address whose key differs.
type wrongKeyError struct{ addr string }

func (e *wrongKeyError) Error() string {
	return "the member at " + e.addr + " uses a different cluster key"
}

func (e *wrongKeyError) Is(target error) bool { return target == ErrWrongKey }

// otherClusterMarker starts every refusal this package gives memberlist, so
// that the refusal can be recognised in the text memberlist hands back
// from Join (it formats the delegate's error with %v, losing the chain).
const otherClusterMarker = "refusing to merge with another cluster: "

// otherClusterError is a refusal to merge; msg names the peer and both ids.
type otherClusterError struct{ msg string }

func newOtherClusterError(peer, addr, theirs, ours string) *otherClusterError {
	return &otherClusterError{msg: fmt.Sprintf("%smember %s at %s belongs to cluster %s, this node to cluster %s",
		otherClusterMarker, peer, addr, theirs, ours)}
}

func (e *otherClusterError) Error() string { return e.msg }

func (e *otherClusterError) Is(target error) bool { return target == ErrOtherCluster }

// wrongKeyMarkers are the texts memberlist's Join error carries when the
// peer's key differs: the peer cannot decrypt our push/pull and answers
// with an error message sealed with its own key, which we cannot decrypt
// either; a peer without encryption sends plain text.
var wrongKeyMarkers = []string{
	"no installed keys could decrypt the message",
	"remote state is not encrypted",
}

// classifyJoinError turns what memberlist returned for a join of addr into
// an error that errors.Is can recognise (ErrWrongKey, ErrOtherCluster).
func classifyJoinError(addr string, err error) error {
	text := err.Error()
	lower := strings.ToLower(text)
	for _, m := range wrongKeyMarkers {
		if strings.Contains(lower, m) {
			return &wrongKeyError{addr: addr}
		}
	}
	if i := strings.Index(text, otherClusterMarker); i >= 0 {
		msg := text[i:]
		if j := strings.IndexByte(msg, '\n'); j >= 0 {
			msg = msg[:j]
		}
		return &otherClusterError{msg: strings.TrimSpace(msg)}
	}
	return fmt.Errorf("join %s: %w", addr, err)
}
