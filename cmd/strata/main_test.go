package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/admin/client"
)

// binary is the strata binary built once for this package's tests.
var binary string

func TestMain(m *testing.M) {
	if p := os.Getenv("STRATA_BINARY"); p != "" { // built by `make test-e2e`
		binary = p
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "strata-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "strata")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is the test process's environment without anything that would
// make the CLI find a credential or node other than the test's.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "STRATA_") || strings.HasPrefix(kv, "AWS_ACCESS") || strings.HasPrefix(kv, "AWS_SECRET") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

type result struct {
	stdout, stderr string
	code           int
}

// strata runs the binary to completion in dir.
func strata(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run strata %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestVersion(t *testing.T) {
	r := strata(t, t.TempDir(), cleanEnv(), "version")
	if r.code != 0 || !regexp.MustCompile(`^strata \S+ \(go1\.\d+`).MatchString(r.stdout) {
		t.Fatalf("version: %+v", r)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"admin", "backend", "add", "--name", "x"}, {"server", "--nope"}} {
		r := strata(t, t.TempDir(), cleanEnv(), args...)
		if r.code != 1 || !strings.Contains(r.stderr, "strata: ") {
			t.Errorf("%v: %+v", args, r)
		}
	}
}

func TestAdminAPIDown(t *testing.T) {
	url := "http://" + freePort(t)
	r := strata(t, t.TempDir(), cleanEnv("STRATA_ADMIN_URL="+url, "STRATA_ACCESS_KEY=AK", "STRATA_SECRET_KEY=SKSKSKSKSK"),
		"admin", "backend", "list", "--json")
	want := "strata: cannot reach admin API at " + url + ": connection refused (is `strata server` running?)\n"
	if r.code != 1 || r.stderr != want || r.stdout != "" {
		t.Fatalf("got code %d stderr %q stdout %q\nwant stderr %q", r.code, r.stderr, r.stdout, want)
	}
}

func TestAdminWithoutCredential(t *testing.T) {
	r := strata(t, t.TempDir(), cleanEnv(), "admin", "region", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "no admin credential: set STRATA_ACCESS_KEY") {
		t.Fatalf("%+v", r)
	}
}

func TestServerRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "strata.yaml")
	if err := os.WriteFile(cfg, []byte("node_id: n1\ns3_adr: :9000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := strata(t, dir, cleanEnv(), "server", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "line 2: field s3_adr is unknown") {
		t.Fatalf("%+v", r)
	}
	r = strata(t, dir, cleanEnv(), "server", "--s3-addr", "9000")
	if r.code != 1 || !strings.Contains(r.stderr, `s3_addr: "9000" is not HOST:PORT`) {
		t.Fatalf("%+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "strata-data")); !os.IsNotExist(err) {
		t.Fatalf("a refused start left a data dir behind: %v", err)
	}
}

// process is a running `strata server`.
type process struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startServer(t *testing.T, dir string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"server"}, args...)...)
	cmd.Dir, cmd.Env = dir, env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, lines: make(chan string, 100), stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// banner collects stdout lines until the banner's last expected line.
func (p *process) banner(t *testing.T, last *regexp.Regexp) string {
	t.Helper()
	var sb strings.Builder
	timeout := time.After(45 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("strata exited before printing its banner:\n%s\nstderr:\n%s", sb.String(), p.stderr.String())
			}
			sb.WriteString(l + "\n")
			if last.MatchString(l) {
				return sb.String()
			}
		case <-timeout:
			t.Fatalf("no banner after 45s:\n%s\nstderr:\n%s", sb.String(), p.stderr.String())
		}
	}
}

// stop sends SIGTERM and expects a clean exit.
func (p *process) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err // keep it for a second stop
		if err != nil {
			t.Errorf("strata server exited with %v\nstderr:\n%s", err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("strata server did not stop on SIGTERM\nstderr:\n%s", p.stderr.String())
	}
}

func match(t *testing.T, re, s string) []string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("%q not found in:\n%s", re, s)
	}
	return m
}

// TestServerZeroConfig starts `strata server` with nothing but free ports
// (the defaults may be taken on a shared machine) in an empty directory,
// and checks the banner, the files it creates, that the printed credential
// works, and that a restart does not print the secret again.
func TestServerZeroConfig(t *testing.T) {
	dir := t.TempDir()
	env := cleanEnv()
	addrs := []string{"--s3-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0"}
	p := startServer(t, dir, env, addrs...)
	out := p.banner(t, regexp.MustCompile(`^\s+export AWS_ACCESS_KEY_ID=`))

	s3URL := match(t, `S3 endpoint:\s+(http://127\.0\.0\.1:\d+)`, out)[1]
	adminURL := match(t, `admin endpoint:\s+(http://127\.0\.0\.1:\d+)`, out)[1]
	ak := match(t, `access key: (SK[A-Z0-9]{18})\n`, out)[1]
	sk := match(t, `secret key: ([A-Za-z0-9_-]{40})\n`, out)[1]
	match(t, `export AWS_ACCESS_KEY_ID=`+ak+` AWS_SECRET_ACCESS_KEY=`+regexp.QuoteMeta(sk)+` AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL=`+regexp.QuoteMeta(s3URL), out)
	if !strings.Contains(p.stderr.String(), "no cluster key given") {
		t.Errorf("no warning about the generated cluster key:\n%s", p.stderr.String())
	}
	for _, f := range []string{"strata-data/admin-credential.json", "strata-data/cluster.key"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st, err)
		}
	}

	// The printed credential signs admin requests.
	c, err := client.New(adminURL, ak, sk)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bes, err := c.Backends(ctx)
	if err != nil || len(bes) != 1 || bes[0].Name != "local" || bes[0].Path != filepath.Join(dir, "strata-data", "fs") {
		t.Fatalf("backends: %+v %v", bes, err)
	}

	// The CLI finds ./strata-data/admin-credential.json by itself.
	cliEnv := cleanEnv("STRATA_ADMIN_URL=" + adminURL)
	r := strata(t, dir, cliEnv, "admin", "backend", "list", "--json")
	var listed []api.Backend
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &listed) != nil || len(listed) != 1 || listed[0].Name != "local" {
		t.Fatalf("backend list --json: %+v", r)
	}
	adminCommands(t, dir, cliEnv)
	singleMember(t, dir, cliEnv, s3URL, adminURL)

	p.stop(t)
	if !strings.Contains(p.stderr.String(), "stopped") {
		t.Errorf("no clean shutdown in the log:\n%s", p.stderr.String())
	}

	p2 := startServer(t, dir, env, addrs...)
	out2 := p2.banner(t, regexp.MustCompile(`^Admin credential`))
	if strings.Contains(out2, sk) || !strings.Contains(out2, "admin-credential.json") {
		t.Fatalf("restart banner:\n%s", out2)
	}
}

// adminCommands drives the human-readable admin commands against a dev
// node whose credential file is in dir.
func adminCommands(t *testing.T, dir string, env []string) {
	t.Helper()
	extra := filepath.Join(dir, "strata-data", "fs-extra") // outside the allow-list
	if err := os.MkdirAll(extra, 0o700); err != nil {
		t.Fatal(err)
	}
	r := strata(t, dir, env, "admin", "backend", "add", "--name", "extra", "--type", "fs", "--path", extra)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "strata: cannot open backend \"extra\"") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("lockdown refusal: %+v", r)
	}
	r = strata(t, dir, env, "admin", "region", "list")
	if r.code != 0 || !regexp.MustCompile(`(?m)^NAME\s+DEFAULT\s+BACKED BY.*\nlocal\s+yes\s+local/local\s*$`).MatchString(r.stdout) {
		t.Fatalf("region list: %+v", r)
	}
	r = strata(t, dir, env, "admin", "region", "rename", "local", "home")
	if r.code != 0 || r.stdout != "renamed region local to home\n" {
		t.Fatalf("region rename: %+v", r)
	}
	r = strata(t, dir, env, "admin", "backend", "list")
	if r.code != 0 || !regexp.MustCompile(`(?m)^local\s+fs\s+be-[0-9a-f]{12}\s+\S+/strata-data/fs\s+-\s+home\s*$`).MatchString(r.stdout) {
		t.Fatalf("backend list: %+v", r)
	}
	r = strata(t, dir, env, "admin", "bucket", "list", "--json")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("bucket list: %+v", r)
	}
	r = strata(t, dir, env, "admin", "backend", "remove", "nope")
	if r.code != 1 || r.stderr != "strata: no backend named \"nope\"\n" {
		t.Fatalf("remove unknown: %+v", r)
	}
}

// singleMember checks `strata members` against a real single node: it
// is the leader, a voter, alive in gossip, and answers its status.
func singleMember(t *testing.T, dir string, env []string, s3URL, adminURL string) {
	t.Helper()
	r := strata(t, dir, env, "members", "--json")
	var members []api.Member
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &members) != nil || len(members) != 1 {
		t.Fatalf("members --json: %+v", r)
	}
	m := members[0]
	if m.NodeID == "" || m.RaftRole != api.RoleLeader || !m.Voter || m.Gossip != api.GossipAlive || !m.Reachable ||
		m.AppliedIndex == 0 || m.S3URL != s3URL || m.AdminURL != adminURL || m.RaftAddr == "" || m.GossipAddr == "" {
		t.Fatalf("the single member: %+v", m)
	}
	r = strata(t, dir, env, "members")
	row := `(?m)^` + regexp.QuoteMeta(m.NodeID) + `\s+leader\s+yes\s+alive\s+\d+\s+` + regexp.QuoteMeta(s3URL) +
		`\s+` + regexp.QuoteMeta(m.RaftAddr) + `\s+` + regexp.QuoteMeta(m.GossipAddr) + `$`
	if r.code != 0 || !regexp.MustCompile(row).MatchString(r.stdout) {
		t.Fatalf("members: %+v", r)
	}
	r = strata(t, dir, env, "remove", m.NodeID)
	if r.code != 1 || !strings.Contains(r.stderr, "run `strata leave` on it") {
		t.Fatalf("remove itself: %+v", r)
	}
}
