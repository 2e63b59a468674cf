package gateway

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// keepAliveBody is the body of a CompleteMultipartUpload whose outcome was
// not known when the 200 status line had to go out. It yields one space
// right away and one per interval while the backend works, then the
// outcome document, then io.EOF. XML parsers skip the leading white space,
// and S3 clients read an <Error> document in a 200 body of this operation
// as the failure it is (S3 behaves the same way).
//
// The renderer copies bodies with io.Copy, which uses WriteTo: WriteTo
// flushes after every write so each space reaches the client at once
// instead of sitting in the server's buffer.
type keepAliveBody struct {
	done     <-chan completeOutcome
	interval time.Duration
	document func(completeOutcome) []byte

	ticker   *time.Ticker
	pending  []byte
	started  bool
	finished bool

	closeOnce sync.Once
	closed    chan struct{}
}

// errKeepAliveClosed is returned by Read after Close.
var errKeepAliveClosed = errors.New("keep-alive body closed")

// newKeepAliveBody returns the body; document renders the outcome.
func newKeepAliveBody(done <-chan completeOutcome, interval time.Duration, document func(completeOutcome) []byte) *keepAliveBody {
	return &keepAliveBody{done: done, interval: interval, document: document, closed: make(chan struct{})}
}

// Read implements io.Reader. It blocks until the next space or the
// outcome is due.
func (k *keepAliveBody) Read(p []byte) (int, error) {
	if len(k.pending) == 0 {
		if k.finished {
			return 0, io.EOF
		}
		if err := k.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, k.pending)
	k.pending = k.pending[n:]
	return n, nil
}

// next fills pending with the next thing to send.
func (k *keepAliveBody) next() error {
	if !k.started {
		k.started = true
		k.ticker = time.NewTicker(k.interval)
		k.pending = []byte(" ")
		return nil
	}
	select {
	case out := <-k.done:
		k.ticker.Stop()
		k.pending = k.document(out)
		k.finished = true
	case <-k.ticker.C:
		k.pending = []byte(" ")
	case <-k.closed:
		return errKeepAliveClosed
	}
	return nil
}

// WriteTo implements io.WriterTo: it writes and flushes each piece. A
// write error means the client is gone; the complete itself goes on.
func (k *keepAliveBody) WriteTo(w io.Writer) (int64, error) {
	flush := flusherOf(w)
	buf := make([]byte, 32<<10)
	var total int64
	for {
		n, err := k.Read(buf)
		if n > 0 {
			m, wErr := w.Write(buf[:n])
			total += int64(m)
			if wErr != nil {
				return total, wErr
			}
			if fErr := flush(); fErr != nil {
				return total, fErr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close implements io.Closer.
func (k *keepAliveBody) Close() error {
	k.closeOnce.Do(func() {
		close(k.closed)
		if k.ticker != nil {
			k.ticker.Stop()
		}
	})
	return nil
}

// flusherOf returns a function that pushes w's buffered bytes to the
// client, or a no-op when w cannot flush.
func flusherOf(w io.Writer) func() error {
	if rw, ok := w.(http.ResponseWriter); ok {
		rc := http.NewResponseController(rw)
		return func() error {
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
			return nil
		}
	}
	return func() error { return nil }
}
