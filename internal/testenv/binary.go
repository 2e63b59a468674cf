package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The strata binary built by StrataBinary, once per test process.
var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
)

// StrataBinary returns the strata binary under test: STRATA_BINARY (set by
// `make test-e2e`), or one built here (CGO_ENABLED=0) once per test
// process, for a plain `go test` of a black-box package.
func StrataBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("STRATA_BINARY"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "strata-test-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtPath = filepath.Join(dir, "strata")
		cmd := exec.Command("go", "build", "-o", builtPath, "github.com/stratagw/strata/cmd/strata")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtPath
}

// RemoveBuiltBinary deletes the binary StrataBinary built, if any; call it
// from TestMain after the tests ran.
func RemoveBuiltBinary() {
	if builtPath != "" {
		os.RemoveAll(filepath.Dir(builtPath))
	}
}
