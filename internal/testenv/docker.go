package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RequireDockerEnv, set to 1 (make test-docker), turns RequireDocker's skip
// into a failure, so CI cannot pass by skipping the docker tests.
const RequireDockerEnv = "STRATA_REQUIRE_DOCKER"

// RequireDocker skips (or fails, under STRATA_REQUIRE_DOCKER=1) when the
// docker daemon or docker-compose is not usable.
func RequireDocker(t testing.TB) {
	t.Helper()
	var missing []string
	for _, probe := range [][]string{{"docker", "info", "--format", "{{.ServerVersion}}"}, {"docker-compose", "version", "--short"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, probe[0], probe[1:]...).CombinedOutput()
		cancel()
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s: %v: %s", strings.Join(probe, " "), err, bytes.TrimSpace(out)))
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "docker is not usable: " + strings.Join(missing, "; ")
	if os.Getenv(RequireDockerEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
