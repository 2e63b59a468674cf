// Package safemsgpack decodes msgpack from untrusted or replicated bytes
// without ever panicking. vmihailenco/msgpack v5 panics on some malformed
// input (a nil where a time.Time is expected: reflect.Value.IsNil on a
// struct); in the state machine such a panic would stop every replica on
// the same log entry, so decoding turns it into an ordinary error.
package safemsgpack

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Unmarshal is msgpack.Unmarshal that reports a decoder panic as an error.
func Unmarshal(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("msgpack: malformed input (decoder panicked: %v)", r)
		}
	}()
	return msgpack.Unmarshal(data, v)
}
