package chaos

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratagw/strata/admin/api"
	adminclient "github.com/stratagw/strata/admin/client"
	"github.com/stratagw/strata/internal/testenv"
)

// composeCluster is one compose project of deploy/compose.yaml run by
// deploy/cluster.sh, on free host ports.
type composeCluster struct {
	t         *testing.T
	project   string
	script    string
	env       []string
	envFile   string
	s3Port    map[string]int // service -> host port of its S3 API
	adminPort map[string]int
	accessKey string
	secretKey string
}

// startCluster brings up the three-node cluster and the S3 backend. Its
// cleanup (registered before anything starts) saves the compose logs when
// the test failed and removes the project with its volumes.
func startCluster(t *testing.T) *composeCluster {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	c := &composeCluster{
		t: t,
		// Lower-case alphanumeric: compose v1 strips anything else when
		// it names networks and volumes.
		project:   "stratachaos" + hex.EncodeToString(suffix),
		script:    filepath.Join(root, "deploy", "cluster.sh"),
		envFile:   filepath.Join(t.TempDir(), "cluster.env"),
		s3Port:    map[string]int{},
		adminPort: map[string]int{},
	}
	c.env = append(os.Environ(), "COMPOSE_PROJECT_NAME="+c.project, "STRATA_ENV_FILE="+c.envFile,
		"STRATA_UP_TIMEOUT=240", "STRATA_BINARY="+testenv.StrataBinary(t))
	ports := freePorts(t, 8)
	for n := 1; n <= 4; n++ {
		svc := fmt.Sprintf("strata%d", n)
		c.s3Port[svc], c.adminPort[svc] = ports[2*(n-1)], ports[2*(n-1)+1]
		c.env = append(c.env,
			fmt.Sprintf("STRATA%d_S3_PORT=%d", n, c.s3Port[svc]),
			fmt.Sprintf("STRATA%d_ADMIN_PORT=%d", n, c.adminPort[svc]))
	}
	t.Cleanup(c.cleanup)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if out, err := c.script1(ctx, "up"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	c.accessKey = c.setting("STRATA_ADMIN_ACCESS_KEY")
	c.secretKey = c.setting("STRATA_ADMIN_SECRET_KEY")
	return c
}

func (c *composeCluster) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := os.Stat(c.envFile); err != nil {
		return // nothing was started
	}
	if c.t.Failed() {
		c.saveLogs(ctx)
	}
	if out, err := c.script1(ctx, "down"); err != nil {
		c.t.Errorf("%v\n%s", err, out)
	}
}

// saveLogs writes the compose logs of every service next to the other
// artifacts and logs their tail.
func (c *composeCluster) saveLogs(ctx context.Context) {
	logs, err := c.script1(ctx, "logs")
	if err != nil {
		c.t.Logf("docker-compose logs: %v", err)
	}
	dir := artifactDir(c.t)
	if err := os.MkdirAll(dir, 0o755); err == nil {
		path := filepath.Join(dir, "compose.log")
		if err := os.WriteFile(path, []byte(logs), 0o644); err == nil {
			c.t.Logf("docker-compose logs in %s", path)
		}
	}
	lines := strings.Split(logs, "\n")
	c.t.Logf("docker-compose logs (last 300 lines):\n%s", strings.Join(lines[max(0, len(lines)-300):], "\n"))
}

// script1 runs deploy/cluster.sh with args and returns its combined output.
func (c *composeCluster) script1(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.script, args...)
	cmd.Env = c.env
	// A killed script must not leave docker-compose holding the pipes.
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("cluster.sh %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// setting reads NAME=value from the env file cluster.sh generated.
func (c *composeCluster) setting(name string) string {
	c.t.Helper()
	f, err := os.Open(c.envFile)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+"="); ok {
			return v
		}
	}
	c.t.Fatalf("%s not in %s (%v)", name, c.envFile, sc.Err())
	return ""
}

// docker runs a docker command and returns its trimmed output.
func docker(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)), nil
}

// container returns the id of a service's container.
func (c *composeCluster) container(ctx context.Context, svc string) string {
	c.t.Helper()
	out, err := c.script1(ctx, "compose", "ps", "-q", svc)
	id := strings.TrimSpace(out)
	if err != nil || id == "" {
		c.t.Fatalf("container of %s: %v %s", svc, err, out)
	}
	return id
}

// endpoints are the S3 endpoints of the given services.
func (c *composeCluster) endpoints(svcs ...string) []Endpoint {
	eps := make([]Endpoint, 0, len(svcs))
	for _, s := range svcs {
		eps = append(eps, Endpoint{Name: s, URL: fmt.Sprintf("http://127.0.0.1:%d", c.s3Port[s])})
	}
	return eps
}

func (c *composeCluster) adminURL(svc string) string {
	return fmt.Sprintf("http://127.0.0.1:%d", c.adminPort[svc])
}

func (c *composeCluster) admin(svc string) *adminclient.Client {
	c.t.Helper()
	cl, err := adminclient.New(c.adminURL(svc), c.accessKey, c.secretKey)
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// waitReady waits until the service's /ready answers 200.
func (c *composeCluster) waitReady(ctx context.Context, svc string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: 2 * time.Second}
	var last string
	for time.Now().Before(deadline) {
		resp, err := hc.Get(c.adminURL(svc) + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("%s not ready: %v", svc, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	c.t.Fatalf("%s not ready after %v: %s", svc, timeout, last)
}

// leader returns the service name of the node that says it is the leader
// (node ids are the service names in compose.yaml), asking each of svcs.
func (c *composeCluster) leader(ctx context.Context, svcs []string, timeout time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var errs []string
	for time.Now().Before(deadline) {
		errs = errs[:0]
		for _, s := range svcs {
			qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			cl, err := c.admin(s).Cluster(qctx)
			cancel()
			switch {
			case err != nil:
				errs = append(errs, fmt.Sprintf("%s: %v", s, err))
			case cl.State == "Leader":
				return cl.NodeID
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.t.Fatalf("no leader among %v after %v: %s", svcs, timeout, strings.Join(errs, "; "))
	return ""
}

// cli runs the host strata binary against a node's admin API.
func (c *composeCluster) cli(ctx context.Context, svc string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.StrataBinary(c.t), args...)
	cmd.Env = append(os.Environ(),
		"STRATA_ADMIN_URL="+c.adminURL(svc),
		"STRATA_ACCESS_KEY="+c.accessKey,
		"STRATA_SECRET_KEY="+c.secretKey)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("strata %s (on %s): %w: %s", strings.Join(args, " "), svc, err, stderr.String())
	}
	return stdout.String(), nil
}

// members runs `strata members --json` against svc.
func (c *composeCluster) members(ctx context.Context, svc string) ([]api.Member, string, error) {
	out, err := c.cli(ctx, svc, "members", "--json")
	if err != nil {
		return nil, out, err
	}
	var ms []api.Member
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		return nil, out, fmt.Errorf("members --json: %w: %s", err, out)
	}
	return ms, out, nil
}

// createBucket creates bucket through svc, retrying while the cluster
// settles.
func (c *composeCluster) createBucket(ctx context.Context, svc, bucket string) {
	c.t.Helper()
	cl := NewS3Client(c.endpoints(svc)[0].URL, c.accessKey, c.secretKey)
	var err error
	for range 20 {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = cl.CreateBucket(octx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		cancel()
		if err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	c.t.Fatalf("create bucket %s: %v", bucket, err)
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
