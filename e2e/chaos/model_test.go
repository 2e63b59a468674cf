package chaos

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func put(c int, key, val string, call, ret int64) Op {
	return Op{Client: c, Node: "n1", Kind: Put, Key: key, Value: val, Outcome: OK, Call: call, Return: ret}
}

func del(c int, key string, call, ret int64) Op {
	return Op{Client: c, Node: "n1", Kind: Delete, Key: key, Outcome: OK, Call: call, Return: ret}
}

func get(c int, key, val string, call, ret int64) Op {
	return Op{Client: c, Node: "n2", Kind: Get, Key: key, Result: Register{Value: val, Exists: true}, Outcome: OK, Call: call, Return: ret}
}

func getAbsent(c int, key string, call, ret int64) Op {
	return Op{Client: c, Node: "n2", Kind: Get, Key: key, Outcome: OK, Call: call, Return: ret}
}

func ambiguous(op Op, ret int64) Op {
	op.Outcome, op.Err, op.Result, op.Return = Ambiguous, "timeout", Register{}, ret
	return op
}

func failed(op Op) Op {
	op.Outcome, op.Err, op.Result = Failed, "503", Register{}
	return op
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		ops  []Op
		ok   bool
	}{
		{"empty", nil, true},
		{"sequential put get delete get", []Op{
			put(0, "a", "v1", 0, 10), get(1, "a", "v1", 20, 30), del(0, "a", 40, 50), getAbsent(1, "a", 60, 70),
		}, true},
		{"read concurrent with put sees old or new", []Op{
			put(0, "a", "v1", 0, 10), put(0, "a", "v2", 20, 50),
			get(1, "a", "v1", 25, 30), get(2, "a", "v2", 30, 40), get(3, "a", "v2", 60, 70),
		}, true},
		{"keys are independent registers", []Op{
			put(0, "a", "v1", 0, 10), put(1, "b", "w1", 0, 10), getAbsent(2, "c", 20, 30),
			get(2, "a", "v1", 20, 30), get(3, "b", "w1", 20, 30),
		}, true},
		{"stale read after acknowledged put", []Op{
			put(0, "a", "v1", 0, 10), put(0, "a", "v2", 20, 30), get(1, "a", "v1", 40, 50),
		}, false},
		{"acknowledged put never visible", []Op{
			put(0, "a", "v1", 0, 10), getAbsent(1, "a", 20, 30),
		}, false},
		{"acknowledged delete not visible", []Op{
			put(0, "a", "v1", 0, 10), del(0, "a", 20, 30), get(1, "a", "v1", 40, 50),
		}, false},
		{"read of a value nobody wrote", []Op{
			put(0, "a", "v1", 0, 10), get(1, "a", "v9", 20, 30),
		}, false},
		{"reads go back in time", []Op{
			put(0, "a", "v1", 0, 10), put(0, "a", "v2", 20, 100),
			get(1, "a", "v2", 30, 40), get(2, "a", "v1", 50, 60),
		}, false},
		{"ambiguous put that took effect later", []Op{
			put(0, "a", "v1", 0, 10), ambiguous(put(0, "a", "v2", 20, 0), 30),
			get(1, "a", "v1", 40, 50), get(1, "a", "v2", 60, 70), get(2, "a", "v2", 80, 90),
		}, true},
		{"ambiguous put that never took effect", []Op{
			put(0, "a", "v1", 0, 10), ambiguous(put(0, "a", "v2", 20, 0), 30), get(1, "a", "v1", 100, 110),
		}, true},
		{"ambiguous put cannot act before its call", []Op{
			put(0, "a", "v1", 0, 10), get(1, "a", "v2", 20, 30), ambiguous(put(0, "a", "v2", 40, 0), 50),
		}, false},
		{"ambiguous put takes effect once", []Op{
			put(0, "a", "v1", 0, 10), ambiguous(put(0, "a", "v2", 20, 0), 30),
			get(1, "a", "v2", 40, 50), put(0, "a", "v3", 60, 70), get(1, "a", "v2", 80, 90),
		}, false},
		{"ambiguous delete may take effect", []Op{
			put(0, "a", "v1", 0, 10), ambiguous(del(0, "a", 20, 0), 30), get(1, "a", "v1", 40, 50), getAbsent(1, "a", 60, 70),
		}, true},
		{"failed put never takes effect", []Op{
			put(0, "a", "v1", 0, 10), failed(put(0, "a", "v2", 20, 30)), get(1, "a", "v2", 40, 50),
		}, false},
		{"failed read is dropped", []Op{
			put(0, "a", "v1", 0, 10), failed(getAbsent(1, "a", 20, 30)), get(1, "a", "v1", 40, 50),
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			v, err := Check(tt.ops, 10*time.Second, dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Result == porcupine.Ok; got != tt.ok {
				t.Fatalf("linearizable = %v (%s), want %v", got, v.Result, tt.ok)
			}
			if tt.ok {
				if v.Visualization != "" {
					t.Errorf("visualization written for a linearizable history: %s", v.Visualization)
				}
				return
			}
			html, err := os.ReadFile(v.Visualization)
			if err != nil {
				t.Fatalf("visualization: %v", err)
			}
			if !strings.Contains(string(html), "<html") || !strings.Contains(string(html), "get(a)") {
				t.Errorf("visualization is not an HTML page describing the operations")
			}
		})
	}
}

// TestPorcupineOpsAmbiguous pins the translation the checker relies on:
// ambiguous writes end after everything else, unobserved ambiguous puts and
// failed operations are gone.
func TestPorcupineOpsAmbiguous(t *testing.T) {
	ops := []Op{
		put(0, "a", "v1", 0, 10),
		ambiguous(put(1, "a", "seen", 5, 0), 20),
		ambiguous(put(1, "a", "unseen", 25, 0), 30),
		ambiguous(del(2, "a", 35, 0), 40),
		failed(put(3, "a", "x", 45, 50)),
		failed(get(3, "a", "v1", 55, 60)),
		get(4, "a", "seen", 65, 70),
		getAbsent(4, "a", 71, 72),
		ambiguous(del(2, "a", 73, 0), 80), // after the last absent read: dropped
	}
	got := porcupineOps(ops)
	if len(got) != 5 {
		t.Fatalf("got %d operations, want 5 (put, ambiguous put seen, ambiguous delete, get, get): %+v", len(got), got)
	}
	for _, op := range got {
		in := op.Input.(input)
		unknown := op.Output.(output).Unknown
		if unknown && op.Return != 81 {
			t.Errorf("%v: ambiguous op returns at %d, want 81 (after the last event)", in, op.Return)
		}
		if unknown && in.Kind == Delete && op.Call != 35 {
			t.Errorf("ambiguous delete called at %d kept, want only the one at 35", op.Call)
		}
		if in.Value == "unseen" || in.Value == "x" {
			t.Errorf("%v should have been dropped", in)
		}
	}
}

func TestHistoryOrdersByCall(t *testing.T) {
	h := NewHistory()
	h.Add(Op{Kind: Get, Key: "b", Call: 20, Return: 30})
	h.Add(Op{Kind: Get, Key: "a", Call: 10, Return: 40})
	ops := h.Ops()
	if ops[0].Key != "a" || ops[1].Key != "b" {
		t.Fatalf("ops not sorted by call: %v", ops)
	}
	if a, b := h.Now(), h.Now(); b < a {
		t.Fatalf("clock went backwards: %d then %d", a, b)
	}
}
