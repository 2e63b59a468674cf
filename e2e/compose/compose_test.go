// Package compose tests deploy/compose.yaml end to end: deploy/cluster.sh
// brings up three strata nodes and a versitygw backend in docker, an S3
// client writes through one node and reads through the others, and the
// cluster is removed again.
//
// The test needs a Docker daemon and docker-compose. Without them it skips,
// unless STRATA_REQUIRE_DOCKER=1 (make test-docker), where it fails.
package compose

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratagw/strata/internal/testenv"
)

// cluster is one compose project started by deploy/cluster.sh.
type cluster struct {
	t       *testing.T
	script  string
	base    []string // environment without the ports
	env     []string
	envFile string
	s3Ports [3]int
}

// newCluster prepares a uniquely named project on free host ports; it does
// not start anything.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	c := &cluster{
		t:       t,
		script:  filepath.Join(root, "deploy", "cluster.sh"),
		envFile: filepath.Join(t.TempDir(), "cluster.env"),
	}
	// Project names stay lower-case alphanumeric: compose v1 strips
	// anything else when it names networks and volumes.
	project := "stratacompose" + hex.EncodeToString(suffix)
	c.base = append(os.Environ(), "COMPOSE_PROJECT_NAME="+project, "STRATA_ENV_FILE="+c.envFile, "STRATA_UP_TIMEOUT=240")
	c.pickPorts()
	return c
}

// pickPorts chooses free host ports for the four nodes.
func (c *cluster) pickPorts() {
	c.t.Helper()
	ports := freePorts(c.t, 8)
	c.env = slices.Clone(c.base)
	for n := 1; n <= 4; n++ {
		s3Port, adminPort := ports[2*(n-1)], ports[2*(n-1)+1]
		c.env = append(c.env,
			fmt.Sprintf("STRATA%d_S3_PORT=%d", n, s3Port),
			fmt.Sprintf("STRATA%d_ADMIN_PORT=%d", n, adminPort))
		if n <= 3 {
			c.s3Ports[n-1] = s3Port
		}
	}
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

// run runs cluster.sh with args and returns its combined output.
func (c *cluster) run(ctx context.Context, args ...string) (string, error) {
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

// up starts the cluster; cleanup (registered first, so it also runs when
// up fails halfway) dumps the logs on failure and removes everything.
func (c *cluster) up() string {
	c.t.Helper()
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if _, err := os.Stat(c.envFile); err != nil {
			return // nothing was started
		}
		if c.t.Failed() {
			logs, err := c.run(ctx, "logs", "--tail", "200")
			c.t.Logf("docker-compose logs (%v):\n%s", err, logs)
		}
		if out, err := c.run(ctx, "down"); err != nil {
			c.t.Errorf("%v\n%s", err, out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// A port found free can be taken by another test before docker binds
	// it: start over on other ports then.
	for attempt := 1; ; attempt++ {
		out, err := c.run(ctx, "up")
		if err == nil {
			return out
		}
		if attempt == 3 || !strings.Contains(out, "address already in use") {
			c.t.Fatalf("%v\n%s", err, out)
		}
		c.t.Logf("a host port was taken meanwhile; retrying on others:\n%s", out)
		if out, err := c.run(ctx, "down"); err != nil {
			c.t.Fatalf("%v\n%s", err, out)
		}
		c.pickPorts()
	}
}

// setting reads NAME=value from the env file cluster.sh generated.
func (c *cluster) setting(name string) string {
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

// client returns an S3 client for node n (1-based) signed with the admin
// credential. The buildable HTTP client keeps AWS_CA_BUNDLE (set on these
// machines) from breaking client construction.
func (c *cluster) client(n int) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:     aws.String("http://127.0.0.1:" + strconv.Itoa(c.s3Ports[n-1])),
		Region:           "us-east-1",
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(c.setting("STRATA_ADMIN_ACCESS_KEY"), c.setting("STRATA_ADMIN_SECRET_KEY"), ""),
		HTTPClient:       awshttp.NewBuildableClient(),
		RetryMaxAttempts: 1,
	})
}

// TestComposeCluster brings up deploy/compose.yaml, writes through one
// node, reads through the others (strong reads: no waiting), checks the
// backend is not published, and tears it all down.
func TestComposeCluster(t *testing.T) {
	testenv.RequireDocker(t)
	c := newCluster(t)
	out := c.up()
	for n := 1; n <= 3; n++ {
		want := fmt.Sprintf("strata%d: http://127.0.0.1:%d", n, c.s3Ports[n-1])
		if !strings.Contains(out, want) {
			t.Errorf("cluster.sh up did not print %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "export AWS_ACCESS_KEY_ID="+c.setting("STRATA_ADMIN_ACCESS_KEY")) {
		t.Errorf("cluster.sh up did not print the credential export line:\n%s", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bucket := "compose-test"
	if _, err := c.client(1).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket on node 1: %v", err)
	}
	objects := map[string][]byte{}
	for writer := 1; writer <= 3; writer++ {
		key := fmt.Sprintf("from-node-%d/object.bin", writer)
		body := make([]byte, 256<<10)
		if _, err := rand.Read(body); err != nil {
			t.Fatal(err)
		}
		if _, err := c.client(writer).PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		}); err != nil {
			t.Fatalf("put %s on node %d: %v", key, writer, err)
		}
		objects[key] = body
		// Every node, the writer's peers right away, must return it.
		for reader := 1; reader <= 3; reader++ {
			got, err := getObject(ctx, c.client(reader), bucket, key)
			if err != nil {
				t.Fatalf("get %s on node %d: %v", key, reader, err)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("node %d returned %d bytes for %s, not the %d written on node %d", reader, len(got), key, len(body), writer)
			}
		}
	}

	list, err := c.client(3).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("list on node 3: %v", err)
	}
	if len(list.Contents) != len(objects) {
		t.Fatalf("node 3 lists %d objects, want %d", len(list.Contents), len(objects))
	}

	// The backend sits on the internal network only: no host port.
	ports, err := c.run(ctx, "compose", "ps", "s3")
	if err != nil {
		t.Fatalf("%v\n%s", err, ports)
	}
	if strings.Contains(ports, "->") {
		t.Errorf("the s3 backend publishes a port:\n%s", ports)
	}
}

func getObject(ctx context.Context, cl *s3.Client, bucket, key string) ([]byte, error) {
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}
