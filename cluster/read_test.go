package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratagw/strata/fsm"
)

// TestReadBarrierRightAfterElection: the commit index of a new leader
// names raft entries that never reach the FSM (configuration, no-op,
// barrier); the barrier must still return.
func TestReadBarrierRightAfterElection(t *testing.T) {
	tn := startNode(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := tn.ReadBarrier(ctx); err != nil {
		t.Fatalf("ReadBarrier on an empty state: %v", err)
	}
	if !tn.Ready() {
		t.Fatal("node not ready after a read barrier")
	}
}

// TestReadBarrierSeesAcknowledgedWrites runs writers and readers together:
// after a barrier, every write acknowledged before the barrier started is
// visible in the local state.
func TestReadBarrierSeesAcknowledgedWrites(t *testing.T) {
	tn := startNode(t, t.TempDir())
	seed(t, tn, "b")
	var calls, rounds atomic.Int64
	orig := tn.reads.round
	tn.reads.round = func() (uint64, error) { rounds.Add(1); return orig() }

	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		errs  = make(chan error, 64)
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", w, i)
				if _, err := tn.Apply(context.Background(), fsm.CmdPutObject, fsm.PutObject{Object: objectRecord("b", key, i)}); err != nil {
					errs <- fmt.Errorf("write %s: %w", key, err)
					return
				}
				mu.Lock()
				acked = append(acked, key)
				mu.Unlock()
			}
		}()
	}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				seen := acked[:len(acked):len(acked)]
				mu.Unlock()
				calls.Add(1)
				if err := tn.ReadBarrier(context.Background()); err != nil {
					errs <- fmt.Errorf("read barrier: %w", err)
					return
				}
				for _, key := range seen {
					if _, ok, err := tn.fsm.Object("b", key); err != nil || !ok {
						errs <- fmt.Errorf("acknowledged write %s not visible after a barrier (err %v)", key, err)
						return
					}
				}
			}
		}()
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d writes, %d barriers in %d leadership rounds", len(acked), calls.Load(), rounds.Load())
	if calls.Load() == 0 || len(acked) == 0 {
		t.Fatal("no reads or no writes happened")
	}
}

// TestReadIndexCoalesces: callers that arrive while a confirmation is in
// flight share the next one, which starts after all of them arrived.
func TestReadIndexCoalesces(t *testing.T) {
	tn := startNode(t, t.TempDir())
	var rounds atomic.Int64
	gate := make(chan struct{})
	started := make(chan struct{}, 8)
	orig := tn.reads.round
	tn.reads.round = func() (uint64, error) {
		if rounds.Add(1) == 1 {
			started <- struct{}{}
			<-gate
		}
		return orig()
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make(chan error, 51)
	call := func() {
		defer wg.Done()
		_, err := tn.ReadIndex(ctx)
		results <- err
	}
	wg.Add(1)
	go call()
	<-started
	for range 50 {
		wg.Add(1)
		go call()
	}
	time.Sleep(100 * time.Millisecond) // let the 50 join the waiting round
	close(gate)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Fatalf("ReadIndex: %v", err)
		}
	}
	if got := rounds.Load(); got != 2 {
		t.Fatalf("%d leadership rounds for 51 concurrent callers, want 2", got)
	}
}

// TestLocalConsistency: ConsistencyLocal barriers return at once, even
// without a leader.
func TestLocalConsistency(t *testing.T) {
	tn := openNode(t, t.TempDir(), func(c *Config) { c.Consistency = ConsistencyLocal })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := tn.ReadBarrier(ctx); err != nil {
		t.Fatalf("local ReadBarrier: %v", err)
	}
}
