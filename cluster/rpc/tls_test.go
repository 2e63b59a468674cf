package rpc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stratagw/strata/fsm"
)

// testALPN is a protocol name like clusternet's: not http/1.x, so net/http
// would take it for a TLSNextProto hand-off.
const testALPN = "strata-rpc/1"

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "strata test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLSWithCustomALPN serves over TLS connections that negotiated a
// non-HTTP ALPN protocol, the way clusternet's mux hands them over.
func TestTLSWithCustomALPN(t *testing.T) {
	cert := selfSigned(t)
	pool := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool.AddCert(leaf)

	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(raw, &tls.Config{
		Certificates: []tls.Certificate{cert}, NextProtos: []string{testALPN}, MinVersion: tls.VersionTLS13,
	})
	svc := &fakeService{apply: func(context.Context, []byte) (fsm.Result, error) { return fsm.Result{Index: 77}, nil }}
	srv := NewServer(svc, testLogger())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	d := &tls.Dialer{Config: &tls.Config{RootCAs: pool, NextProtos: []string{testALPN}, MinVersion: tls.VersionTLS13}}
	c := NewClient(func(ctx context.Context, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if p := conn.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != testALPN {
			_ = conn.Close()
			t.Errorf("negotiated %q, want %q", p, testALPN)
		}
		return conn, nil
	})
	t.Cleanup(func() { _ = c.Close() })

	for i := range 3 { // also over the reused connection
		res, err := c.Apply(testCtx(t, 5*time.Second), raw.Addr().String(), []byte{1})
		if err != nil || res.Index != 77 {
			t.Fatalf("Apply %d over TLS = %+v, %v", i, res, err)
		}
	}
}
