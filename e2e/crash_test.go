package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const (
	crashKeys    = 40
	crashWriters = 8
	crashRounds  = 3
	crashLoad    = 2 * time.Second
)

// crashValue is the body written to key by its sequence number seq: the
// key is in it, so a value can never pass for another key's.
func crashValue(key string, seq int) string {
	return fmt.Sprintf("%s#%06d|%s", key, seq, strings.Repeat("x", 1024))
}

// keyState is what a writer knows about one key: the last sequence the
// gateway acknowledged and the one whose PUT had no answer (0: none).
type keyState struct {
	acked, inFlight int
}

// TestCrashDuringOverwrites: kill -9 of strata while clients overwrite keys
// must leave every key readable, holding either its last acknowledged value
// or the value whose write was in flight at the kill. A PUT writes the
// backing object before it commits the record, so a kill between the two
// leaves bytes the record does not describe; the gateway must adopt them
// on the next GET instead of answering 503 forever.
func TestCrashDuringOverwrites(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	const bucket = "crash"
	if _, err := n.client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, crashKeys)
	state := make([]keyState, crashKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%02d", i)
	}
	seq := 0
	for round := 1; round <= crashRounds; round++ {
		seq = crashLoadRound(t, n, bucket, keys, state, seq)
		n.start()
		crashVerify(t, n, bucket, keys, state, round)
		t.Logf("round %d: %d keys repaired by adoption", round, strings.Count(n.out.String(), "adopted a backing object"))
		if t.Failed() {
			t.Fatalf("round %d: keys unreadable or wrong after kill -9; log:\n%s", round, n.out.String())
		}
	}
}

// crashLoadRound runs the writers for crashLoad and returns with their
// PUTs in flight killed with the node (the caller restarts it); each writer owns the
// keys i with i%crashWriters == w, so every key has one writer and its
// acknowledged order is well defined. It returns the next free sequence.
func crashLoadRound(t *testing.T, n *node, bucket string, keys []string, state []keyState, seq int) int {
	t.Helper()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var acked atomic.Int64
	for w := 0; w < crashWriters; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := n.client()
			s := seq + w*1_000_000 // disjoint sequences per writer and round
			for !stop.Load() {
				for i := w; i < len(keys) && !stop.Load(); i += crashWriters {
					s++
					state[i].inFlight = s
					_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
						Bucket: aws.String(bucket), Key: aws.String(keys[i]), Body: strings.NewReader(crashValue(keys[i], s))})
					if err != nil {
						// The kill: this PUT's fate is unknown, and the
						// writer stops so no key has two writes in doubt.
						return
					}
					state[i].acked, state[i].inFlight = s, 0
					acked.Add(1)
				}
			}
		}(w)
	}
	time.Sleep(crashLoad)
	// Kill while the writers are still busy; they stop on their first
	// failed PUT.
	n.kill()
	stop.Store(true)
	wg.Wait()
	t.Logf("%d PUTs acknowledged before the kill", acked.Load())
	return seq + crashWriters*1_000_000
}

// crashVerify reads every key once (no retries: a 503 here is the bug) and
// checks it holds its last acknowledged or its in-flight value; the value
// found becomes the key's acknowledged one for the next round.
func crashVerify(t *testing.T, n *node, bucket string, keys []string, state []keyState, round int) {
	t.Helper()
	c := n.client()
	for i, key := range keys {
		out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		var nsk *s3types.NoSuchKey
		if errors.As(err, &nsk) && state[i].acked == 0 {
			// The key's first PUT was the one in flight: it may not
			// have taken effect.
			state[i].inFlight = 0
			continue
		}
		if err != nil {
			t.Errorf("round %d: GET %s: %v (acked %d, in flight %d)", round, key, err, state[i].acked, state[i].inFlight)
			continue
		}
		got := string(readAll(t, out.Body))
		switch {
		case state[i].acked != 0 && got == crashValue(key, state[i].acked):
			state[i].inFlight = 0
		case state[i].inFlight != 0 && got == crashValue(key, state[i].inFlight):
			state[i].acked, state[i].inFlight = state[i].inFlight, 0
		default:
			head, _, _ := strings.Cut(got, "|")
			t.Errorf("round %d: %s = %q, want seq %d (acked) or %d (in flight)", round, key, head, state[i].acked, state[i].inFlight)
		}
	}
}
