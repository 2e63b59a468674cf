package clusternet

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// newKey returns a fresh random 32-byte cluster key.
func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newID(t testing.TB, key []byte) *Identity {
	t.Helper()
	id, err := NewIdentity(key)
	if err != nil {
		t.Fatalf("NewIdentity: %v", err)
	}
	return id
}

// logBuf collects log output from the mux's goroutines.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startMux runs a mux on 127.0.0.1:0 with the given handshake timeout and
// returns it with its captured debug log.
func startMux(t testing.TB, id *Identity, handshakeTimeout time.Duration) (*Mux, *logBuf) {
	t.Helper()
	return startMuxOpts(t, id, withTimeout(handshakeTimeout))
}

// withTimeout is the default options with another handshake timeout.
func withTimeout(d time.Duration) muxOptions {
	o := defaultMuxOptions()
	o.handshakeTimeout = d
	return o
}

// startMuxOpts is startMux with all of the mux's limits chosen.
func startMuxOpts(t testing.TB, id *Identity, opts muxOptions) (*Mux, *logBuf) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := newMux(ln, id, logger, opts)
	t.Cleanup(func() { _ = m.Close() })
	return m, logs
}

// echo accepts connections on l and echoes each until EOF or l closes.
func echo(t testing.TB, l net.Listener) {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { _ = c.Close() }()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
}

// acceptAsync runs one Accept on l and reports its result.
type acceptResult struct {
	conn net.Conn
	err  error
}

func acceptAsync(l net.Listener) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := l.Accept()
		ch <- acceptResult{c, err}
	}()
	return ch
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitClosedByPeer asserts that c is closed by the other side within d:
// a read returns an error (EOF or reset) rather than timing out.
func waitClosedByPeer(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 64)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after %v", d)
		}
		return
	}
}

// checkNoLeak fails if the goroutine count does not settle back to base.
func checkNoLeak(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d, want <= %d\n%s", n, base, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
