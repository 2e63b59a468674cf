package chaos

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// artifactDir is where a failing check leaves its visualisation. Not
// t.TempDir(): that is removed when the test ends, and the file is what a
// developer opens after a failure. STRATA_CHAOS_ARTIFACTS picks the place
// (CI can collect it); otherwise a fresh directory under the temp dir that
// is removed only when the test passes.
func artifactDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("STRATA_CHAOS_ARTIFACTS"); d != "" {
		return d + "/" + strings.ReplaceAll(t.Name(), "/", "_")
	}
	d, err := os.MkdirTemp("", "strata-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(d)
		}
	})
	return d
}

// requireLinearizable checks ops and fails the test, naming the
// visualisation file, unless the history is linearizable.
func requireLinearizable(t testing.TB, ops []Op) {
	t.Helper()
	v, err := Check(ops, time.Minute, artifactDir(t))
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	t.Logf("linearizability: %s (%d of %d operations checked)", v.Result, v.Operations, len(ops))
	if v.Result != porcupine.Ok {
		t.Errorf("history is not linearizable (%s); visualisation: %s", v.Result, v.Visualization)
	}
}
