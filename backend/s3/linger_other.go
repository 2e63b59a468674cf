//go:build !unix

package s3

import "syscall"

// resetOnClose is a no-op where SO_LINGER cannot be set portably.
func resetOnClose(_, _ string, _ syscall.RawConn) error { return nil }
