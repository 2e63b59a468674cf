package safemsgpack

import (
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

type withTime struct {
	T time.Time `msgpack:"t,omitempty"`
}

// TestNilTimeIsAnError: the input that makes msgpack v5 panic (nil for a
// time.Time field) decodes to an error instead.
func TestNilTimeIsAnError(t *testing.T) {
	// {"t": nil}
	body := []byte{0x81, 0xa1, 't', 0xc0}
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		var v withTime
		_ = msgpack.Unmarshal(body, &v)
		return false
	}()
	var v withTime
	err := Unmarshal(body, &v)
	if panicked && err == nil {
		t.Fatal("the library panics on this input but Unmarshal reported no error")
	}
	t.Logf("library panics: %v; Unmarshal: %v", panicked, err)
}

func TestRoundTrip(t *testing.T) {
	in := withTime{T: time.Unix(1700000000, 5).UTC()}
	b, err := msgpack.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out withTime
	if err := Unmarshal(b, &out); err != nil || !out.T.Equal(in.T) {
		t.Fatalf("round trip: %+v %v", out, err)
	}
}
