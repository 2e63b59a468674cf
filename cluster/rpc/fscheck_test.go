package rpc

import (
	"context"
	"errors"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stratagw/strata/cluster"
)

// fsCheckRecorder is an FSChecker that records its requests and answers
// with err.
type fsCheckRecorder struct {
	err error

	mu          sync.Mutex
	got         []FSCheck
	hadDeadline bool
}

func (r *fsCheckRecorder) check(ctx context.Context, req FSCheck) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, req)
	_, r.hadDeadline = ctx.Deadline()
	return r.err
}

func (r *fsCheckRecorder) requests() []FSCheck {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]FSCheck(nil), r.got...)
}

func TestFSCheckRoundTrip(t *testing.T) {
	req := FSCheck{Path: "/srv/shared", Marker: ".strata/tmp/shared-check-0123", Content: []byte{0, 1, 2, 0xff}}
	tests := []struct {
		name       string
		checkErr   error
		wantReason string // "" = the check passes
	}{
		{name: "marker seen"},
		{name: "marker not seen", checkErr: errors.New("open /srv/shared/.strata/tmp/shared-check-0123: no such file or directory"),
			wantReason: "open /srv/shared/.strata/tmp/shared-check-0123: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fsCheckRecorder{err: tt.checkErr}
			addr := startServer(t, &fakeService{}, func(s *Server) { s.HandleFSCheck(rec.check) })
			c, _ := newClient(t)
			err := c.FSCheck(testCtx(t, 5*time.Second), addr, req)
			if got := rec.requests(); len(got) != 1 || !reflect.DeepEqual(got[0], req) {
				t.Fatalf("checker got %+v, want exactly %+v", got, req)
			}
			if !rec.hadDeadline {
				t.Error("the checker's context has no deadline; the client's deadline must bound the check")
			}
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("FSCheck = %v, want nil", err)
				}
				return
			}
			var ce *FSCheckError
			if !errors.As(err, &ce) {
				t.Fatalf("FSCheck = %v, want an *FSCheckError", err)
			}
			if ce.Reason != tt.wantReason {
				t.Errorf("reason = %q, want %q", ce.Reason, tt.wantReason)
			}
			if errors.Is(err, cluster.ErrNotSent) || errors.Is(err, ErrBadRequest) {
				t.Errorf("a check the peer answered is neither undelivered nor bad: %v", err)
			}
		})
	}
}

func TestFSCheckBadRequests(t *testing.T) {
	full := FSCheck{Path: "/srv/shared", Marker: "m", Content: []byte("x")}
	tests := []struct {
		name       string
		handler    bool
		req        FSCheck
		wantChecks int
	}{
		{name: "no handler on the peer", handler: false, req: full},
		{name: "no path", handler: true, req: FSCheck{Marker: "m", Content: []byte("x")}},
		{name: "no marker", handler: true, req: FSCheck{Path: "/p", Content: []byte("x")}},
		{name: "no content", handler: true, req: FSCheck{Path: "/p", Marker: "m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fsCheckRecorder{}
			addr := startServer(t, &fakeService{}, func(s *Server) {
				if tt.handler {
					s.HandleFSCheck(rec.check)
				}
			})
			c, _ := newClient(t)
			err := c.FSCheck(testCtx(t, 5*time.Second), addr, tt.req)
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("FSCheck = %v, want ErrBadRequest", err)
			}
			var ce *FSCheckError
			if errors.As(err, &ce) {
				t.Errorf("a refused request is not a check answer: %v", err)
			}
			if n := len(rec.requests()); n != 0 {
				t.Errorf("checker ran %d times, want 0", n)
			}
		})
	}
}

func TestFSCheckUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, _ := newClient(t)
	err = c.FSCheck(testCtx(t, 5*time.Second), addr, FSCheck{Path: "/p", Marker: "m", Content: []byte("x")})
	if !errors.Is(err, cluster.ErrNotSent) {
		t.Fatalf("FSCheck to a closed port = %v, want ErrNotSent", err)
	}
}
