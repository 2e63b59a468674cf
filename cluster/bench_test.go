package cluster

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratagw/strata/fsm"
)

// BenchmarkApply4KiBRecords applies PutObject commands carrying about
// 4 KiB of metadata each from 32 concurrent submitters (the gateway's
// 4 KiB PUT benchmark at concurrency 32, without the bytes). Reported as
// ops/s; batching is what makes it more than one fsync per object.
func BenchmarkApply4KiBRecords(b *testing.B) {
	tn := startNode(b, b.TempDir())
	seed(b, tn, "bench")
	pad := strings.Repeat("x", 4096-200)
	var seq atomic.Int64
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(seq.Add(1))
			o := objectRecord("bench", fmt.Sprintf("obj-%09d", i), i)
			o.Meta.UserMeta["pad"] = pad
			if _, err := tn.Apply(context.Background(), fsm.CmdPutObject, fsm.PutObject{Object: o}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

// BenchmarkReadBarrier measures strong-read barriers from 32 concurrent
// readers on an idle leader.
func BenchmarkReadBarrier(b *testing.B) {
	tn := startNode(b, b.TempDir())
	seed(b, tn, "bench")
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := tn.ReadBarrier(context.Background()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}
