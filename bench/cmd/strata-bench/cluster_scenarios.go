package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// clusterOptions are the knobs of the cluster scenarios.
type clusterOptions struct {
	smallDur time.Duration // one round of 4 KiB PUTs per target
	rounds   int           // rounds of direct, single, cluster
	trials   int           // leader kills per timeout setting
	tuned    string        // auto, always or never: also fail over with tunedRaftTimeouts
}

// tunedRaftTimeouts are the shorter raft timings tried when the default
// failover misses its target.
var tunedRaftTimeouts = raftTimeouts{Heartbeat: 500 * time.Millisecond, Election: 500 * time.Millisecond, Lease: 250 * time.Millisecond}

// failoverTarget is the bound on the slowest failover.
const failoverTarget = 3 * time.Second

// benchClusterAll runs the cluster scenarios: small PUTs against the direct
// backend, the single node and a fresh 3-node cluster, then leader
// failovers with default (and maybe tuned) raft timeouts.
func benchClusterAll(ctx context.Context, e *env, o clusterOptions) ([]result, []string, error) {
	var out []result
	var notes []string
	c, err := startCluster(ctx, e, "cluster-default", raftTimeouts{})
	if err != nil {
		return nil, nil, err
	}
	puts, note, err := benchClusterPuts(ctx, e, c, 4<<10, 32, o.smallDur, o.rounds)
	if err != nil {
		c.close()
		return nil, nil, err
	}
	out = append(out, puts...)
	notes = append(notes, note)

	defRes, defMax, err := benchFailover(ctx, c, o.trials, "default raft timeouts ("+defaultRaftTimeouts.String()+")")
	c.close()
	if err != nil {
		return nil, nil, err
	}
	out = append(out, defRes...)
	tune := o.tuned == "always" || (o.tuned == "auto" && defMax > failoverTarget)
	if !tune {
		return out, notes, nil
	}
	if o.tuned == "auto" {
		notes = append(notes, fmt.Sprintf("The failover max with default raft timeouts was %.2f s (> %v), so the failover also ran on a fresh cluster with tuned timeouts (%s) from a --config file.",
			defMax.Seconds(), failoverTarget, tunedRaftTimeouts))
	}
	t, err := startCluster(ctx, e, "cluster-tuned", tunedRaftTimeouts)
	if err != nil {
		return nil, nil, err
	}
	defer t.close()
	tunedRes, _, err := benchFailover(ctx, t, o.trials, "tuned raft timeouts ("+tunedRaftTimeouts.String()+")")
	if err != nil {
		return nil, nil, err
	}
	return append(out, tunedRes...), notes, nil
}

// putLoad runs conc workers doing size-byte PUTs for d; worker w uses
// clients[w%len(clients)], so a cluster's load is spread round-robin.
// It returns the PUTs done and the time they took.
func putLoad(ctx context.Context, clients []*s3.Client, bucket, prefix string, size, conc int, d time.Duration) (int64, time.Duration, error) {
	payload := bytes.Repeat([]byte("x"), size)
	var ops atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := clients[w%len(clients)]
			for i := 0; time.Now().Before(deadline); i++ {
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("%s/w%02d/%08d", prefix, w, i)),
					Body: bytes.NewReader(payload), ContentLength: aws.Int64(int64(size))})
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				ops.Add(1)
			}
		}(w)
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, firstErr
	}
	return ops.Load(), time.Since(start), nil
}

// warmup is the unmeasured PUT load each target gets before the rounds.
const warmup = 2 * time.Second

// cpuTarget is a process whose CPU time a PUT round accounts for.
type cpuTarget struct {
	name string
	pid  int
}

// benchClusterPuts alternates rounds of 4 KiB PUTs at concurrency conc on
// the direct backend, the single node and the cluster (spread over its
// nodes), and reports the means and the CPU each process used.
func benchClusterPuts(ctx context.Context, e *env, c *benchCluster, size, conc int, d time.Duration, rounds int) ([]result, string, error) {
	const bucket = "cluster-small"
	if _, err := e.direct.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("direct-" + bucket)}); err != nil {
		return nil, "", fmt.Errorf("create bucket on backend: %w", err)
	}
	if _, err := e.through.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(benchRegion)}}); err != nil {
		return nil, "", fmt.Errorf("create bucket on the single node: %w", err)
	}
	if err := c.createBucket(ctx, bucket); err != nil {
		return nil, "", err
	}
	type side struct {
		name    string
		clients []*s3.Client
		bucket  string
		procs   []cpuTarget
		rates   []float64          // ops/s of each round
		ops     int64              // PUTs over all rounds
		wall    float64            // seconds over all rounds
		cpu     map[string]float64 // process name -> CPU seconds over all rounds
		host    float64            // the whole host's busy CPU seconds over all rounds
	}
	clusterProcs := []cpuTarget{{"versitygw", e.gw.pid()}}
	for i, pid := range c.pids() {
		clusterProcs = append(clusterProcs, cpuTarget{c.nodes[i].id, pid})
	}
	sides := []*side{
		{name: "direct", clients: []*s3.Client{e.direct}, bucket: "direct-" + bucket, procs: []cpuTarget{{"versitygw", e.gw.pid()}}},
		{name: "single", clients: []*s3.Client{e.through}, bucket: bucket, procs: []cpuTarget{{"versitygw", e.gw.pid()}, {"strata", e.strataPID()}}},
		{name: "cluster", clients: c.s3Clients(), bucket: bucket, procs: clusterProcs},
	}
	self := cpuTarget{"bench client", os.Getpid()}
	for _, s := range sides {
		s.procs = append(s.procs, self)
		s.cpu = map[string]float64{}
	}
	// An unmeasured warm-up per target: connection pools, heaps and fresh
	// buckets otherwise penalise whichever target runs first.
	for _, s := range sides {
		if _, _, err := putLoad(ctx, s.clients, s.bucket, "warmup", size, conc, warmup); err != nil {
			return nil, "", fmt.Errorf("%s warm-up: %w", s.name, err)
		}
	}
	for r := 0; r < rounds; r++ {
		for _, s := range sides {
			before := cpuSnapshot(s.procs)
			hostBefore, hostErr := hostBusySeconds()
			ops, took, err := putLoad(ctx, s.clients, s.bucket, fmt.Sprintf("r%d", r), size, conc, d)
			if err != nil {
				return nil, "", fmt.Errorf("%s round %d: %w", s.name, r, err)
			}
			after := cpuSnapshot(s.procs)
			if hostAfter, err := hostBusySeconds(); err == nil && hostErr == nil {
				s.host += hostAfter - hostBefore
			}
			for name, v := range after {
				s.cpu[name] += v - before[name]
			}
			rate := float64(ops) / took.Seconds()
			s.rates = append(s.rates, rate)
			s.ops += ops
			s.wall += took.Seconds()
			log.Printf("cluster PUTs round %d: %-8s %8.1f ops/s", r, s.name, rate)
		}
	}
	mean := func(s *side) float64 {
		sum := 0.0
		for _, r := range s.rates {
			sum += r
		}
		return sum / float64(len(s.rates))
	}
	direct, single, cl := mean(sides[0]), mean(sides[1]), mean(sides[2])
	label := fmt.Sprintf("%d KiB PUT, concurrency %d", size>>10, conc)
	perRound := fmt.Sprintf("mean of %d alternating rounds of %v each (direct, single, cluster) after a %v warm-up of each", rounds, d, warmup)
	res := []result{
		{Name: label + ", single node (cluster run)", Unit: "ops/s", Direct: direct, Strata: single, Target: "report the ratio",
			Note: fmt.Sprintf("%s; rounds (direct / single): %s / %s", perRound, fmtRates(sides[0].rates), fmtRates(sides[1].rates)), Samples: sides[1].rates},
		{Name: label + ", 3-node cluster, spread over all nodes", Unit: "ops/s", Direct: direct, Strata: cl, Target: "ratio >= 0.5",
			Note: fmt.Sprintf("%s; cluster/single %.2f; workers round-robin over n1..n3; rounds: %s", perRound, cl/single, fmtRates(sides[2].rates)), Samples: sides[2].rates},
	}
	var note strings.Builder
	fmt.Fprintf(&note, "CPU during the 4 KiB PUT rounds, per target: cores busy (CPU-seconds per second) and CPU milliseconds per PUT of each process; the host has %d cores shared by every process.", numCPU())
	for _, s := range sides {
		fmt.Fprintf(&note, " **%s** (%.0f ops/s):", s.name, float64(s.ops)/s.wall)
		total, perOp := 0.0, 0.0
		for _, p := range s.procs {
			v := s.cpu[p.name]
			total += v
			perOp += v / float64(s.ops)
			fmt.Fprintf(&note, " %s %.2f cores, %.2f ms/PUT;", p.name, v/s.wall, 1000*v/float64(s.ops))
		}
		fmt.Fprintf(&note, " together %.2f cores, %.2f ms/PUT; the whole host was %.2f cores busy, so other work on this machine took %.2f cores. "+
			"If these processes had all %d cores to themselves, CPU would cap this target near %.0f ops/s.",
			total/s.wall, 1000*perOp, s.host/s.wall, max(0, (s.host-total)/s.wall), numCPU(), float64(numCPU())/perOp)
	}
	if ld, err := c.leader(ctx, nil); err == nil {
		fmt.Fprintf(&note, " The cluster's leader was %s.", ld.id)
	}
	return res, note.String(), nil
}

func fmtRates(rs []float64) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.0f", r)
	}
	return strings.Join(parts, ", ")
}

// cpuSnapshot reads the CPU seconds (user+system) each process used so
// far; a process that cannot be read is left out.
func cpuSnapshot(ps []cpuTarget) map[string]float64 {
	out := map[string]float64{}
	for _, p := range ps {
		if v, err := cpuSeconds(p.pid); err == nil {
			out[p.name] = v
		}
	}
	return out
}

// hostBusySeconds is the CPU time all cores spent on anything but idle
// and iowait since boot, from the first line of /proc/stat.
func hostBusySeconds() (float64, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy float64
	for i, v := range f[1:] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		// Fields: user nice system idle iowait irq softirq steal guest
		// guest_nice; guest time is already counted in user.
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += n
	}
	return busy / 100, nil
}

// cpuSeconds is utime+stime of pid from /proc/PID/stat, in seconds
// (Linux reports clock ticks of USER_HZ, 100 on every mainstream build).
func cpuSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields count from
	// after its closing parenthesis, where field 3 (state) is index 0.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return (ut + st) / 100, nil
}

// failoverWriters is how many goroutines write during a failover trial;
// requestTimeout bounds each of their PUTs (no SDK retries), and
// noAckLimit is when a trial gives up waiting for an acknowledged write.
const (
	failoverWriters = 4
	requestTimeout  = 2 * time.Second
	noAckLimit      = 30 * time.Second
)

// benchFailover kills the leader trials times and measures, each time,
// from the kill to the first acknowledged PUT that started after it. It
// returns median, p90 and max rows (labelled with label) and the max.
func benchFailover(ctx context.Context, c *benchCluster, trials int, label string) ([]result, time.Duration, error) {
	bucket := "failover"
	if err := c.createBucket(ctx, bucket); err != nil {
		return nil, 0, err
	}
	var samples []time.Duration
	var lines []string
	failed := 0
	for t := 0; t < trials; t++ {
		tr, err := failoverTrial(ctx, c, bucket, t)
		if err != nil {
			return nil, 0, fmt.Errorf("%s, trial %d: %w", label, t+1, err)
		}
		if !tr.acked {
			failed++
		}
		samples = append(samples, tr.took)
		line := fmt.Sprintf("trial %2d: killed %s, new leader %s, %.3f s (%d PUTs failed meanwhile)", t+1, tr.killed, tr.newLeader, tr.took.Seconds(), tr.failedPuts)
		if !tr.acked {
			line += fmt.Sprintf(" — NO acknowledged write within %v", noAckLimit)
		}
		log.Printf("failover (%s) %s", label, line)
		lines = append(lines, line)
	}
	sorted := append([]time.Duration(nil), samples...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	med, p90, mx := median(sorted), percentile(sorted, 0.9), sorted[len(sorted)-1]
	secs := make([]float64, len(samples))
	for i, s := range samples {
		secs[i] = math.Round(s.Seconds()*1000) / 1000
	}
	how := fmt.Sprintf("%d trials; kill -9 of the leader while %d writers PUT 4 KiB objects to the two other nodes (%v per request, no SDK retries); time from the kill to the first 2xx PUT that started after it; the killed node is restarted and caught up before the next trial",
		trials, failoverWriters, requestTimeout)
	if failed > 0 {
		how += fmt.Sprintf("; %d trial(s) got no acknowledged write within %v and count as %v", failed, noAckLimit, noAckLimit)
	}
	name := "leader kill -> first acknowledged write, " + label
	res := []result{
		{Name: name + ", median", Unit: "s", Strata: med.Seconds(), Target: "report", Note: how + ". Per trial: " + strings.Join(lines, "; ")},
		{Name: name + ", p90", Unit: "s", Strata: p90.Seconds(), Target: "report"},
		{Name: name + ", max", Unit: "s", Strata: mx.Seconds(), Target: "max <= 3 s", Samples: secs},
	}
	return res, mx, nil
}

// median of sorted durations.
func median(s []time.Duration) time.Duration {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile is the nearest-rank percentile p (0..1] of sorted durations.
func percentile(s []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// trialResult is one leader kill.
type trialResult struct {
	killed, newLeader string
	took              time.Duration
	acked             bool
	failedPuts        int64
}

// failoverTrial runs one leader kill and restarts the killed node.
func failoverTrial(ctx context.Context, c *benchCluster, bucket string, trial int) (trialResult, error) {
	var tr trialResult
	ld, err := c.leader(ctx, nil)
	if err != nil {
		return tr, err
	}
	tr.killed = ld.id
	var targets []*clusterNode
	for _, n := range c.nodes {
		if n != ld {
			targets = append(targets, n)
		}
	}

	var killAt atomic.Int64 // unix nanos of the kill; 0 before it
	var acks, fails atomic.Int64
	firstAck := make(chan time.Time, 1)
	stop := make(chan struct{})
	payload := bytes.Repeat([]byte("f"), 4<<10)
	var wg sync.WaitGroup
	for w := 0; w < failoverWriters; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cl := targets[w%len(targets)].s3
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				started := time.Now()
				rctx, cancel := context.WithTimeout(ctx, requestTimeout)
				_, err := cl.PutObject(rctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("t%02d/w%d/%07d", trial, w, i)),
					Body: bytes.NewReader(payload), ContentLength: aws.Int64(int64(len(payload)))},
					func(o *s3.Options) { o.Retryer = aws.NopRetryer{} })
				cancel()
				done := time.Now()
				k := killAt.Load()
				if err != nil {
					if k != 0 {
						fails.Add(1)
					} else {
						// Before the kill every write must succeed: a
						// failure here is a broken cluster, not failover.
						log.Printf("failover trial %d: PUT before the kill failed: %v", trial+1, err)
						time.Sleep(50 * time.Millisecond)
					}
					continue
				}
				acks.Add(1)
				if k != 0 && started.UnixNano() >= k {
					select {
					case firstAck <- done:
					default:
					}
				}
			}
		}(w)
	}
	stopWriters := func() { close(stop); wg.Wait() }

	// Steady load first, so the kill lands on a busy leader.
	warm := time.Now().Add(10 * time.Second)
	for acks.Load() < 50 {
		if time.Now().After(warm) {
			stopWriters()
			return tr, fmt.Errorf("only %d PUTs acknowledged in 10 s before the kill", acks.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	kill := time.Now()
	killAt.Store(kill.UnixNano())
	ld.proc.kill()
	select {
	case at := <-firstAck:
		tr.took, tr.acked = at.Sub(kill), true
	case <-time.After(noAckLimit):
		tr.took = noAckLimit
	}
	stopWriters()
	tr.failedPuts = fails.Load()
	if nl, err := c.leader(ctx, ld); err == nil {
		tr.newLeader = nl.id
	} else {
		tr.newLeader = "none (" + err.Error() + ")"
	}

	if err := c.startNode(ctx, ld); err != nil {
		return tr, fmt.Errorf("restart %s: %w", ld.id, err)
	}
	if err := c.waitCaughtUp(ctx, ld, 60*time.Second); err != nil {
		return tr, err
	}
	return tr, nil
}

// clusterSetupNote says how the cluster scenarios ran, for the report.
func clusterSetupNote(o clusterOptions) string {
	return fmt.Sprintf("Cluster scenarios: three strata processes (n1 bootstraps, n2/n3 --join n1's gossip address) on 127.0.0.1, 127.0.0.2 and 127.0.0.3 "+
		"of this one host, all with versitygw (posix) as their only backend, which the direct and single-node runs use too. "+
		"The three nodes, the single node, versitygw and the benchmark client share the host's %d cores, so the cluster figures measure CPU contention as much as strata: "+
		"on a real deployment each node has its own machine. Apply batching (raft BatchApplyCh, MaxAppendEntries) and read-index batching are built into the nodes at this commit (cluster/node.go, cluster/read.go); the benchmark tunes nothing but the raft timeouts, and those only in the runs labelled tuned. Default raft timeouts: %s. %d rounds of %v per target for the PUT comparison; %d leader kills per timeout setting (tuned run: %s).",
		numCPU(), defaultRaftTimeouts, o.rounds, o.smallDur, o.trials, o.tuned)
}
