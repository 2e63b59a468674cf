// Package chaos holds the cluster chaos tests: a load of S3 PUT/GET/DELETE
// from several clients spread over the nodes of a docker compose cluster,
// faults injected under that load (kill -9, network partition, rolling
// restart, membership change), and the recorded client history checked
// for linearizability with porcupine, each key a register.
//
// Running: `make test-docker` (or STRATA_REQUIRE_DOCKER=1 go test
// ./e2e/chaos/); without docker the scenarios skip unless
// STRATA_REQUIRE_DOCKER=1. The checker and the load generator (against one
// local node) are tested without docker. A failing check leaves
// porcupine's visualisation (linearizability.html) and the compose logs
// under $STRATA_CHAOS_ARTIFACTS/<test>, or a strata-chaos-* directory in
// the temp dir; the test log names the files.
package chaos

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Kind is the kind of one client operation.
type Kind uint8

// The operations of the register model.
const (
	Put Kind = iota + 1
	Delete
	Get
)

func (k Kind) String() string {
	switch k {
	case Put:
		return "put"
	case Delete:
		return "delete"
	case Get:
		return "get"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Outcome is how an operation ended, as far as the client can tell.
type Outcome uint8

// Outcomes. Only OK operations are known to have taken effect (writes) or
// to report the state (reads); an Ambiguous write may or may not take
// effect at any time after its call; a Failed operation had no effect.
const (
	OK Outcome = iota + 1
	Ambiguous
	Failed
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Ambiguous:
		return "ambiguous"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Register is the state of one key: its value, or absent.
type Register struct {
	Value  string
	Exists bool
}

func (r Register) String() string {
	if !r.Exists {
		return "absent"
	}
	return fmt.Sprintf("%q", r.Value)
}

// Op is one client operation as recorded by the load generator. Times are
// nanoseconds on the history's monotonic clock.
type Op struct {
	Client  int
	Node    string // the endpoint the request was sent to
	Kind    Kind
	Key     string
	Value   string   // the value a Put writes
	Result  Register // what a Get read (Outcome OK)
	Outcome Outcome
	Err     string // why it failed, for the report
	Call    int64
	Return  int64
}

func (o Op) String() string {
	s := fmt.Sprintf("c%d@%s %s(%s", o.Client, o.Node, o.Kind, o.Key)
	if o.Kind == Put {
		s += fmt.Sprintf(", %q", o.Value)
	}
	s += ")"
	switch {
	case o.Outcome == OK && o.Kind == Get:
		s += " -> " + o.Result.String()
	case o.Outcome == OK:
		s += " -> ok"
	default:
		s += " -> " + o.Outcome.String() + ": " + o.Err
	}
	return s
}

// History collects the operations of concurrent clients.
type History struct {
	start time.Time

	mu  sync.Mutex
	ops []Op
}

// NewHistory starts an empty history; its clock starts now.
func NewHistory() *History {
	return &History{start: time.Now()}
}

// Now is the history's clock: monotonic nanoseconds since NewHistory.
func (h *History) Now() int64 {
	return int64(time.Since(h.start))
}

// Add records a finished operation.
func (h *History) Add(op Op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
}

// Ops returns a copy of the operations recorded so far, ordered by call.
func (h *History) Ops() []Op {
	h.mu.Lock()
	ops := slices.Clone(h.ops)
	h.mu.Unlock()
	slices.SortFunc(ops, func(a, b Op) int { return cmp.Compare(a.Call, b.Call) })
	return ops
}

// input and output are what porcupine sees of an Op.
type input struct {
	Kind  Kind
	Key   string
	Value string
}

type output struct {
	Read    Register
	Unknown bool // an ambiguous write: nothing was observed
}

// registerModel is a map of independent registers, partitioned by key so
// that each key is checked on its own. A key starts absent.
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(input).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		slices.Sort(keys)
		parts := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, byKey[k])
		}
		return parts
	},
	Init: func() interface{} { return Register{} },
	Step: func(state, in, out interface{}) (bool, interface{}) {
		st := state.(Register)
		i := in.(input)
		switch i.Kind {
		case Put:
			return true, Register{Value: i.Value, Exists: true}
		case Delete:
			return true, Register{}
		case Get:
			return out.(output).Read == st, st
		}
		return false, st
	},
	DescribeOperation: func(in, out interface{}) string {
		i, o := in.(input), out.(output)
		switch {
		case i.Kind == Get:
			return fmt.Sprintf("get(%s) -> %s", i.Key, o.Read)
		case i.Kind == Put && o.Unknown:
			return fmt.Sprintf("put(%s, %q) -> ?", i.Key, i.Value)
		case i.Kind == Put:
			return fmt.Sprintf("put(%s, %q)", i.Key, i.Value)
		case o.Unknown:
			return fmt.Sprintf("delete(%s) -> ?", i.Key)
		}
		return fmt.Sprintf("delete(%s)", i.Key)
	},
	DescribeState: func(state interface{}) string { return state.(Register).String() },
}

// porcupineOps turns a history into porcupine operations:
//   - an OK operation keeps its interval;
//   - an Ambiguous write gets a return time after every other operation
//     ("infinity"): its effect may fall anywhere after its call, including
//     after the end of the history, which is the same as never;
//   - Failed operations and reads without an answer are dropped: they
//     observed nothing and changed nothing;
//   - an Ambiguous write that no read can have observed is dropped too: a
//     Put whose value no read returned, a Delete after whose call no read
//     ending later found the key absent. Such a write can always be placed
//     at the end (or left out) without changing what any read saw, so it
//     cannot change the verdict, and every pending operation costs the
//     checker dearly.
func porcupineOps(ops []Op) []porcupine.Operation {
	seen := map[string]bool{}        // key + value read
	lastAbsent := map[string]int64{} // key -> latest return of a read that found it absent
	var end int64
	for _, op := range ops {
		end = max(end, op.Call, op.Return)
		if op.Kind != Get || op.Outcome != OK {
			continue
		}
		if op.Result.Exists {
			seen[op.Key+"\x00"+op.Result.Value] = true
		} else if r, ok := lastAbsent[op.Key]; !ok || op.Return > r {
			lastAbsent[op.Key] = op.Return
		}
	}
	infinity := end + 1
	out := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		in := input{Kind: op.Kind, Key: op.Key, Value: op.Value}
		switch {
		case op.Outcome == OK:
			out = append(out, porcupine.Operation{ClientId: op.Client, Input: in,
				Output: output{Read: op.Result}, Call: op.Call, Return: op.Return, Metadata: op.Node})
		case op.Outcome == Ambiguous && op.Kind != Get:
			if op.Kind == Put && !seen[op.Key+"\x00"+op.Value] {
				continue
			}
			if r, ok := lastAbsent[op.Key]; op.Kind == Delete && (!ok || r < op.Call) {
				continue
			}
			out = append(out, porcupine.Operation{ClientId: op.Client, Input: in,
				Output: output{Unknown: true}, Call: op.Call, Return: infinity, Metadata: op.Node + ": " + op.Err})
		}
	}
	return out
}

// Verdict is the outcome of checking a history.
type Verdict struct {
	Result        porcupine.CheckResult
	Operations    int    // operations given to the checker
	Visualization string // HTML file showing the history, written when Result is not Ok
}

// Check checks ops for linearizability within timeout. When the history
// is not (or not provably) linearizable it writes porcupine's visualisation
// into dir and names the file in the verdict.
func Check(ops []Op, timeout time.Duration, dir string) (Verdict, error) {
	pops := porcupineOps(ops)
	res, info := porcupine.CheckOperationsVerbose(registerModel, pops, timeout)
	v := Verdict{Result: res, Operations: len(pops)}
	if res == porcupine.Ok {
		return v, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return v, fmt.Errorf("artifact dir: %w", err)
	}
	path := filepath.Join(dir, "linearizability.html")
	if err := porcupine.VisualizePath(registerModel, info, path); err != nil {
		return v, fmt.Errorf("write visualization: %w", err)
	}
	v.Visualization = path
	return v, nil
}
