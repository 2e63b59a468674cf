// Command strata-bench measures strata against the S3 server it fronts, in
// the same run, and writes the ratios to bench/results/. It starts a
// versitygw server (STRATA_VERSITYGW) and a strata node (STRATA_BINARY) with
// that server as its s3 backend, then runs each scenario once directly
// against versitygw and once through strata.
//
// The cluster scenario also starts three strata nodes on 127.0.0.1-3 with
// the same versitygw as backend: it compares 4 KiB PUTs on the backend, the
// single node and the cluster in alternating rounds, then kills the
// cluster's leader (kill -9) again and again and times how long writes on
// the other nodes stay unacknowledged. -only selects scenarios, e.g.
// `-only cluster`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

func numCPU() int { return runtime.NumCPU() }

type options struct {
	out       string
	large     int64 // bytes for the streaming PUT / multipart RSS scenarios
	listKeys  int
	smallDur  time.Duration
	skipLarge bool
	skipList  bool
	keepDir   bool
	only      map[string]bool // scenarios to run; empty: all
	cluster   clusterOptions
}

// scenarios are the names -only accepts.
var scenarios = []string{"rss", "large", "small", "list", "cluster"}

// want reports whether scenario name runs.
func (o options) want(name string) bool { return len(o.only) == 0 || o.only[name] }

func parseOnly(s string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.Contains(scenarios, f) {
			return nil, fmt.Errorf("-only: unknown scenario %q (have %s)", f, strings.Join(scenarios, ", "))
		}
		out[f] = true
	}
	return out, nil
}

// result is one scenario's figures.
type result struct {
	Name   string  `json:"name"`
	Unit   string  `json:"unit"`
	Direct float64 `json:"direct,omitempty"`
	Strata float64 `json:"strata"`
	Ratio  float64 `json:"ratio,omitempty"`
	Target string  `json:"target"`
	Note   string  `json:"note,omitempty"`
	// Samples are the individual measurements behind a summary figure.
	Samples []float64 `json:"samples,omitempty"`
}

type report struct {
	Date    string   `json:"date"`
	Machine string   `json:"machine"`
	Commit  string   `json:"commit"`
	Results []result `json:"results"`
	// Notes describe the setup and what limited the figures.
	Notes []string `json:"notes,omitempty"`
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "bench/results", "directory for results")
	flag.Int64Var(&o.large, "large", 5<<30, "object size for the RSS scenarios (bytes)")
	flag.IntVar(&o.listKeys, "list-keys", 100000, "objects in the listing bucket")
	flag.DurationVar(&o.smallDur, "small-duration", 10*time.Second, "duration of each 4 KiB PUT run")
	flag.BoolVar(&o.skipLarge, "skip-large", false, "skip the 5 GiB RSS scenarios")
	flag.BoolVar(&o.skipList, "skip-list", false, "skip the listing scenario")
	flag.BoolVar(&o.keepDir, "keep", false, "keep the temp directory")
	only := flag.String("only", "", "comma-separated scenarios to run ("+strings.Join(scenarios, ", ")+"); default all")
	flag.IntVar(&o.cluster.rounds, "cluster-rounds", 3, "alternating rounds of direct, single-node and cluster 4 KiB PUTs")
	flag.IntVar(&o.cluster.trials, "failover-trials", 10, "leader kills per raft timeout setting")
	flag.StringVar(&o.cluster.tuned, "failover-tuned", "auto", "also fail over with tuned raft timeouts: auto (when the default max > 3 s), always or never")
	flag.Parse()
	log.SetFlags(log.Ltime)
	var err error
	if o.only, err = parseOnly(*only); err != nil {
		log.Fatalf("strata-bench: %v", err)
	}
	switch o.cluster.tuned {
	case "auto", "always", "never":
	default:
		log.Fatalf("strata-bench: -failover-tuned %q: want auto, always or never", o.cluster.tuned)
	}
	if o.cluster.rounds < 1 || o.cluster.trials < 1 {
		log.Fatalf("strata-bench: -cluster-rounds and -failover-trials must be at least 1")
	}
	o.cluster.smallDur = o.smallDur
	if err := run(context.Background(), o); err != nil {
		log.Fatalf("strata-bench: %v", err)
	}
}

func run(ctx context.Context, o options) error {
	env, err := startEnv(ctx, o.keepDir)
	if err != nil {
		return err
	}
	defer env.close()

	rep := report{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Commit: gitCommit()}
	add := func(r result) {
		if r.Direct > 0 {
			r.Ratio = r.Strata / r.Direct
		}
		if r.Direct > 0 {
			log.Printf("%-40s direct %10.1f  strata %10.1f %-6s ratio %.2f (%s)", r.Name, r.Direct, r.Strata, r.Unit, r.Ratio, r.Target)
		} else {
			log.Printf("%-40s strata %10.3f %-6s (%s)", r.Name, r.Strata, r.Unit, r.Target)
		}
		rep.Results = append(rep.Results, r)
	}

	// Memory first, while the process is fresh: "above idle" then
	// includes everything the uploads make the process allocate.
	if !o.skipLarge && o.want("rss") {
		rs, err := benchRSS(ctx, env, o.large)
		if err != nil {
			return err
		}
		for _, r := range rs {
			add(r)
		}
	}

	if o.want("large") {
		put, get, err := benchLargeThroughput(ctx, env, 64<<20, 8)
		if err != nil {
			return err
		}
		add(put)
		add(get)
	}

	if o.want("small") {
		small, err := benchSmallPuts(ctx, env, 4<<10, 32, o.smallDur)
		if err != nil {
			return err
		}
		add(small)
	}

	if !o.skipList && o.want("list") {
		lst, err := benchListing(ctx, env, o.listKeys)
		if err != nil {
			return err
		}
		add(lst)
	}

	if o.want("cluster") {
		rs, notes, err := benchClusterAll(ctx, env, o.cluster)
		if err != nil {
			// Keep what the other scenarios measured.
			rep.Notes = append(rep.Notes, "The cluster scenarios failed: "+err.Error())
			if werr := writeReport(o.out, rep); werr != nil {
				log.Printf("write report: %v", werr)
			}
			return fmt.Errorf("cluster scenarios: %w", err)
		}
		for _, r := range rs {
			add(r)
		}
		rep.Notes = append(rep.Notes, clusterSetupNote(o.cluster))
		rep.Notes = append(rep.Notes, notes...)
	}
	return writeReport(o.out, rep)
}

func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func writeReport(dir string, rep report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stamp := time.Now().UTC().Format("2006-01-02T150405Z")
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, stamp+".json"), js, 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# strata benchmark %s\n\nMachine: %s  \nCommit: %s\n\n", rep.Date, rep.Machine, rep.Commit)
	md.WriteString("| scenario | direct backend | through strata | unit | ratio | target |\n| --- | ---: | ---: | --- | ---: | --- |\n")
	for _, r := range rep.Results {
		direct, ratio := "—", "—"
		if r.Direct > 0 {
			direct = fmt.Sprintf("%.1f", r.Direct)
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		prec := 1
		if r.Unit == "s" {
			prec = 2 // failover times: tenths hide the spread
		}
		fmt.Fprintf(&md, "| %s | %s | %.*f | %s | %s | %s |\n", r.Name, direct, prec, r.Strata, r.Unit, ratio, r.Target)
	}
	for _, r := range rep.Results {
		if r.Note != "" {
			fmt.Fprintf(&md, "\n- %s: %s", r.Name, r.Note)
		}
	}
	md.WriteString("\n")
	if len(rep.Notes) > 0 {
		md.WriteString("\n## Notes\n\n")
		for _, n := range rep.Notes {
			fmt.Fprintf(&md, "- %s\n", n)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, stamp+".md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	log.Printf("results written to %s/%s.{json,md}", dir, stamp)
	return nil
}
