package client

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

func TestNewValidatesURL(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:9001", "https://admin.example:443/", "http://[::1]:9001"} {
		if _, err := New(u, "ak", "sk"); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
	for _, u := range []string{"127.0.0.1:9001", "ftp://host", "http://", ""} {
		if _, err := New(u, "ak", "sk"); err == nil || !strings.Contains(err.Error(), "must look like http://HOST:PORT") {
			t.Errorf("New(%q): err = %v", u, err)
		}
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := New("http://"+addr, "ak", "sk")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Backends(context.Background())
	var ue *UnreachableError
	if !errors.As(err, &ue) || ue.Error() != "cannot reach admin API at http://"+addr+": connection refused" {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Backends(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
}
