package chaos

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestExecuteClassifiesFailures: a write the node never received is
// Failed, a write whose answer was lost is Ambiguous, a failed read is
// Failed. Real sockets, no S3 server needed.
func TestExecuteClassifiesFailures(t *testing.T) {
	// A port nothing listens on: the dial is refused.
	closed := freeAddr(t)

	// A server that takes the request and never answers.
	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(hang) })

	// A server that reads the request and drops the connection.
	dropping := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(dropping.Close)

	// A server answering 503 (the gateway during an election).
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(unavailable.Close)

	tests := []struct {
		name string
		url  string
		kind Kind
		want Outcome
	}{
		{"put refused", "http://" + closed, Put, Failed},
		{"delete refused", "http://" + closed, Delete, Failed},
		{"put timed out", hanging.URL, Put, Ambiguous},
		{"delete timed out", hanging.URL, Delete, Ambiguous},
		{"put connection dropped", dropping.URL, Put, Ambiguous},
		{"put 503", unavailable.URL, Put, Ambiguous},
		{"get timed out", hanging.URL, Get, Failed},
		{"get refused", "http://" + closed, Get, Failed},
		{"get 503", unavailable.URL, Get, Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			cl := NewS3Client(tt.url, testAccessKey, testSecretKey)
			_, got, msg := execute(ctx, cl, "b", tt.kind, "k", "v")
			if got != tt.want {
				t.Fatalf("outcome %s (%s), want %s", got, msg, tt.want)
			}
			if msg == "" {
				t.Error("no error message recorded")
			}
		})
	}
}

func TestRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _, msg := execute(ctx, NewS3Client("http://"+addr, testAccessKey, testSecretKey), "b", Put, "k", "v")
	if !refused(msg) {
		t.Errorf("refused(%q) = false for a closed port", msg)
	}
	if refused("operation error S3: PutObject, context deadline exceeded") {
		t.Error("a timeout must not move the client: a partitioned node is still there")
	}
}
