// Package clusternet carries all node-to-node traffic of a strata cluster
// (raft and the cluster RPC) on one TCP port.
//
// One port keeps deployment simple (one firewall rule, one advertised
// address). The port is never open: every connection is TLS 1.3 with mutual
// authentication, and both sides accept only a peer whose certificate holds
// the ed25519 key derived from the shared cluster key. Holding the cluster key
// is therefore the only credential; there is no CA to run and no certificate
// to rotate, and a node started with another key fails loudly on both sides.
// After the handshake, ALPN tells raft connections from RPC connections, and
// both sides exchange their cluster id: two clusters sharing a key (a node
// whose data directory was wiped bootstraps a new one on the same address)
// must never talk raft to each other.
package clusternet

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync/atomic"
	"time"
)

// ALPN protocol names routed by the Mux. Version 2 starts every connection
// with the cluster id preamble; a version 1 peer fails the handshake (no
// common protocol) instead of misreading the preamble.
const (
	// ProtoRaft carries hashicorp/raft's network transport.
	ProtoRaft = "strata-raft/2"
	// ProtoRPC carries the cluster RPC (HTTP/1.1).
	ProtoRPC = "strata-rpc/2"
)

var (
	// ErrWrongClusterKey means the peer completed no handshake because it
	// does not hold this cluster's key (or rejected ours).
	ErrWrongClusterKey = errors.New("peer does not hold this cluster's key")
	// ErrDial wraps every error returned by Identity.Dial: the connection
	// was never handed to the caller, so nothing the caller meant to send
	// reached the peer.
	ErrDial = errors.New("dial peer")
)

// tlsInfo is the HKDF info string; changing it changes every node's
// identity, so it is versioned.
const tlsInfo = "strata cluster tls v1"

// defaultDialTimeout bounds connect and handshake when the caller's context
// has no deadline.
const defaultDialTimeout = 3 * time.Second

// Fixed validity so that clock skew between nodes (or a wrong RTC at boot)
// never makes a peer's certificate look expired. The certificate is not what
// is trusted; the key in it is.
var (
	certNotBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	certNotAfter  = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Identity is a node's TLS identity derived from the cluster key. Every node
// holding the same key derives the same identity, which is what peers check.
type Identity struct {
	cert tls.Certificate
	// pub is the PKIX encoding of the derived public key, compared against
	// each peer's leaf certificate.
	pub []byte
	// clusterID returns the id this node announces; nil means "" (not
	// joined yet). It changes once, when a joining node learns its cluster.
	clusterID atomic.Pointer[func() string]
}

// SetClusterID makes fn the source of the cluster id this node announces
// on every connection it dials or accepts from now on; nil means no id
// yet. fn is called once per connection, so it must be cheap and must not
// block (an atomic load). An empty id matches every cluster; a non-empty
// one refuses peers announcing another non-empty id. Connections already
// established are not checked again.
func (id *Identity) SetClusterID(fn func() string) {
	if fn == nil {
		id.clusterID.Store(nil)
		return
	}
	id.clusterID.Store(&fn)
}

// localClusterID is the id to announce now.
func (id *Identity) localClusterID() string {
	if fn := id.clusterID.Load(); fn != nil {
		return (*fn)()
	}
	return ""
}

// NewIdentity derives the cluster's ed25519 key from clusterKey with
// HKDF-SHA256 and builds a self-signed certificate for it.
func NewIdentity(clusterKey []byte) (*Identity, error) {
	if len(clusterKey) < 32 {
		return nil, fmt.Errorf("clusternet: cluster key is %d bytes, need at least 32", len(clusterKey))
	}
	seed, err := hkdf.Key(sha256.New, clusterKey, nil, tlsInfo, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("clusternet: derive tls key: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "strata cluster"},
		NotBefore:             certNotBefore,
		NotAfter:              certNotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	// ed25519 signatures are deterministic, so no randomness is consumed.
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("clusternet: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("clusternet: parse own certificate: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("clusternet: marshal public key: %w", err)
	}
	return &Identity{
		cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf},
		pub:  pubDER,
	}, nil
}

// verifyPeer accepts the connection only if the peer's leaf certificate
// carries our derived public key. TLS 1.3's CertificateVerify has already
// proved the peer holds the matching private key, so this proves it holds
// the cluster key. Chains and host names are deliberately not checked.
func (id *Identity) verifyPeer(addr string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("the peer at %s presented no certificate: %w", addr, ErrWrongClusterKey)
		}
		got, err := x509.MarshalPKIXPublicKey(cs.PeerCertificates[0].PublicKey)
		if err != nil || len(got) != len(id.pub) || subtle.ConstantTimeCompare(got, id.pub) != 1 {
			return wrongKey(addr)
		}
		return nil
	}
}

func wrongKey(addr string) error {
	return fmt.Errorf("the peer at %s uses a different cluster key: %w", addr, ErrWrongClusterKey)
}

// clientConfig is the tls.Config for dialling addr with ALPN proto.
func (id *Identity) clientConfig(addr, proto string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.cert},
		NextProtos:   []string{proto},
		// Chain and name verification are replaced by verifyPeer.
		InsecureSkipVerify: true,
		VerifyConnection:   id.verifyPeer(addr),
	}
}

// serverConfig is the tls.Config for a connection accepted from remote.
func (id *Identity) serverConfig(remote string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.cert},
		NextProtos:   []string{ProtoRaft, ProtoRPC},
		ClientAuth:   tls.RequireAnyClientCert,
		// Resumption would skip the certificate exchange; a full handshake
		// costs one ed25519 signature and connections are long-lived.
		SessionTicketsDisabled: true,
		VerifyConnection:       id.verifyPeer(remote),
	}
}

// Dial connects to addr, completes a mutually authenticated TLS 1.3
// handshake offering ALPN proto, and exchanges cluster ids with the peer.
// Without a deadline on ctx, all of it is bounded by 3 s. The connection is
// a *Conn. Every error wraps ErrDial; a peer with another cluster key also
// wraps ErrWrongClusterKey, one of another cluster ErrOtherCluster.
func (id *Identity) Dial(ctx context.Context, addr, proto string) (net.Conn, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultDialTimeout)
		defer cancel()
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrDial, addr, err)
	}
	conn := tls.Client(raw, id.clientConfig(addr, proto))
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("%w %s: %w", ErrDial, addr, handshakeError(addr, err))
	}
	if got := conn.ConnectionState().NegotiatedProtocol; got != proto {
		_ = conn.Close()
		return nil, fmt.Errorf("%w %s: peer does not speak %q", ErrDial, addr, proto)
	}
	deadline, _ := ctx.Deadline() // set above when the caller had none
	cc, err := id.agreeOnCluster(ctx, conn, deadline, addr)
	if err != nil {
		_ = conn.Close()
		// TLS 1.3 clients finish the handshake before the server has
		// checked their certificate: a rejection arrives here, on the
		// first read.
		if kerr := rejectedKey(addr, err); kerr != nil {
			err = kerr
		}
		return nil, fmt.Errorf("%w %s: %w", ErrDial, addr, err)
	}
	return cc, nil
}

// RaftDialer adapts Dial to the shape of raft.StreamLayer's Dial, offering
// ProtoRaft. A non-positive timeout means the default of 3 s.
func (id *Identity) RaftDialer() func(addr string, timeout time.Duration) (net.Conn, error) {
	return func(addr string, timeout time.Duration) (net.Conn, error) {
		if timeout <= 0 {
			timeout = defaultDialTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return id.Dial(ctx, addr, ProtoRaft)
	}
}

// handshakeError turns a peer's rejection of our certificate into
// ErrWrongClusterKey. In TLS 1.3 the client checks the server first, so a
// server talking to a node with another key sees only the client's
// bad_certificate alert, never the client's certificate; on port 9100 the
// only reason a strata peer rejects our certificate is a different key.
func handshakeError(addr string, err error) error {
	if kerr := rejectedKey(addr, err); kerr != nil {
		return kerr
	}
	return fmt.Errorf("tls handshake: %w", err)
}

// rejectedKey returns the error to report when err says that either side
// refused the other's cluster key, and nil otherwise.
func rejectedKey(addr string, err error) error {
	if errors.Is(err, ErrWrongClusterKey) {
		return err
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil &&
		op.Err.Error() == "tls: bad certificate" {
		return fmt.Errorf("%w (%v)", wrongKey(addr), err)
	}
	return nil
}
