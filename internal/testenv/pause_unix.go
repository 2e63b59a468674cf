//go:build unix

package testenv

import "syscall"

// Pause freezes the server process (SIGSTOP): requests to it hang instead
// of failing, as with a backend that stalls mid-operation. Resume undoes it.
func (s S3Server) Pause() error {
	if s.proc == nil {
		return nil
	}
	return s.proc.cmd.Process.Signal(syscall.SIGSTOP)
}

// Resume lets a paused server run again (SIGCONT).
func (s S3Server) Resume() error {
	if s.proc == nil {
		return nil
	}
	return s.proc.cmd.Process.Signal(syscall.SIGCONT)
}
