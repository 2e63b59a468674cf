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
	dial      func(addr string, timeout time.Duration) (net.Conn, error)
}

// Addr is the address other nodes dial (the advertised one).
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Dial opens a raft connection to another node.
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if s.dial != nil {
		return s.dial(string(addr), timeout)
	}
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
	stream := &streamLayer{Listener: ln, advertise: adv, dial: cfg.Dial}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: defaultTransportPool,
		Timeout: defaultTransportTimeout,
		Logger:  hlog,
	}), nil
}

// hostAddr is an advertised address kept as written: a host name stays a
// name (raft stores it in the configuration and dials it afresh), so a
// node whose IP changes on restart — a container — keeps its identity.
type hostAddr string

func (a hostAddr) Network() string { return "tcp" }
func (a hostAddr) String() string  { return string(a) }

// advertiseAddr is the address other nodes dial: Advertise when set (a
// host alone takes the listener's port), else the listener's own address,
// which must be a concrete IP.
func advertiseAddr(advertise string, bound net.Addr) (net.Addr, error) {
	if advertise != "" {
		host, port, err := net.SplitHostPort(advertise)
		if err != nil {
			tcp, ok := bound.(*net.TCPAddr)
			if !ok {
				return nil, fmt.Errorf("cluster: advertise address %q has no port", advertise)
			}
			host, port = advertise, strconv.Itoa(tcp.Port)
		}
		if host == "" || port == "" || port == "0" {
			return nil, fmt.Errorf("cluster: advertise address %q must name a concrete host and port", advertise)
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			return nil, fmt.Errorf("cluster: advertise address %q must name a concrete host and port", advertise)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return nil, fmt.Errorf("cluster: advertise address %q: bad port", advertise)
		}
		return hostAddr(net.JoinHostPort(host, port)), nil
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
