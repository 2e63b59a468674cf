//go:build unix

package s3

import "syscall"

// resetOnClose sets SO_LINGER to zero so that closing a connection sends
// a TCP RST instead of a FIN. When an upload is aborted (the caller's body
// failed or ran short, or ctx was cancelled) the HTTP client closes the
// connection mid-body; after a FIN some S3 servers (versitygw 1.8) take
// the truncated body as complete and store a short object. A reset makes
// every server see a failed request. Normal request ends are unaffected:
// Go only closes a connection once its exchange is over.
func resetOnClose(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
	})
	if err != nil {
		return err
	}
	return serr
}
