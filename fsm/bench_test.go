package fsm

import (
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
)

// BenchmarkApplyBatch measures PutObject throughput when raft hands the FSM
// batches of 64 entries (its default MaxAppendEntries): one bbolt
// transaction, one fsync per batch.
func BenchmarkApplyBatch(b *testing.B) {
	for _, size := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			f := withBucket(b)
			logs := make([]*raft.Log, 0, size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				logs = append(logs, entry(b, f.next, CmdPutObject, PutObject{Object: object("b1", fmt.Sprintf("bench/%09d", i), int64(i))}))
				f.next++
				if len(logs) == size || i == b.N-1 {
					for _, r := range f.ApplyBatch(logs) {
						if res, ok := r.(Result); !ok || res.Err != nil {
							b.Fatalf("apply: %v", r)
						}
					}
					logs = logs[:0]
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkListObjects lists 1,000-key pages of a bucket of 100,000
// objects, with and without a delimiter that rolls most keys up.
func BenchmarkListObjects(b *testing.B) {
	const n = 100000
	f := withBucket(b)
	logs := make([]*raft.Log, 0, n)
	for i := 0; i < n; i++ {
		logs = append(logs, entry(b, f.next, CmdPutObject, PutObject{Object: object("b1", fmt.Sprintf("d%03d/obj%06d", i%500, i), int64(i))}))
		f.next++
	}
	applyInBatches(b, f.FSM, logs, 1024)
	cases := []struct {
		name string
		opts ListOptions
	}{
		{"page", ListOptions{MaxKeys: 1000}},
		{"page-after-middle", ListOptions{MaxKeys: 1000, After: "d250/"}},
		{"delimiter", ListOptions{MaxKeys: 1000, Delimiter: "/"}},
		{"prefix", ListOptions{MaxKeys: 1000, Prefix: "d123/"}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r, err := f.ListObjects("b1", tc.opts)
				if err != nil || len(r.Objects)+len(r.CommonPrefixes) == 0 {
					b.Fatalf("ListObjects: %d entries, %v", len(r.Objects), err)
				}
			}
		})
	}
}
