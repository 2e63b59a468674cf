package cluster

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// streamLayer is raft's network layer over any net.Listener. Listening is
// separated from raft's own TCP transport so that the cluster RPC can later
// share the port: a multiplexing listener that hands over the connections
// whose first byte is raft's can be passed as Config.Listener (the dialler
// then writes that byte first).
type streamLayer struct {
	net.Listener
	advertise net.Addr
}

// Addr is the address other nodes dial (the advertised one).
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Dial opens a raft connection to another node.
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.Dial("tcp", string(addr))
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %s: %w", addr, err)
	}
	return conn, nil
}

// newTransport listens (or takes Config.Listener) and builds raft's network
// transport on it.
func newTransport(cfg Config, hlog hclog.Logger) (*raft.NetworkTransport, error) {
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.BindAddr); err != nil {
			return nil, fmt.Errorf("cluster: listen on raft address %s: %w", cfg.BindAddr, err)
		}
	}
	adv, err := advertiseAddr(cfg.Advertise, ln.Addr())
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	stream := &streamLayer{Listener: ln, advertise: adv}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: defaultTransportPool,
		Timeout: defaultTransportTimeout,
		Logger:  hlog,
	}), nil
}

// advertiseAddr resolves the address other nodes dial: Advertise when set
// (a host alone takes the listener's port), else the listener's own
// address, which must be a concrete IP.
func advertiseAddr(advertise string, bound net.Addr) (net.Addr, error) {
	if advertise != "" {
		if _, _, err := net.SplitHostPort(advertise); err != nil {
			if tcp, ok := bound.(*net.TCPAddr); ok {
				advertise = net.JoinHostPort(advertise, strconv.Itoa(tcp.Port))
			}
		}
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			return nil, fmt.Errorf("cluster: advertise address %q: %w", advertise, err)
		}
		if a.IP == nil || a.IP.IsUnspecified() || a.Port == 0 {
			return nil, fmt.Errorf("cluster: advertise address %q must name a concrete host and port", advertise)
		}
		return a, nil
	}
	a, ok := bound.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("cluster: raft listener address %s is not TCP; set Advertise", bound)
	}
	if a.IP == nil || a.IP.IsUnspecified() {
		return nil, errors.New("cluster: raft listens on a wildcard address (" + a.String() + "); set Advertise to the address other nodes dial")
	}
	return a, nil
}
