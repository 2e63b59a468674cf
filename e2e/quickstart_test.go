package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// quickstartBlock returns the shell lines of the README's quick start (the
// fenced block between the quickstart markers), so the README cannot drift
// from what works.
func quickstartBlock(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "<!-- quickstart:start -->")
	end := strings.Index(s, "<!-- quickstart:end -->")
	if start < 0 || end < start {
		t.Fatal("README.md has no quickstart markers")
	}
	var lines []string
	for _, l := range strings.Split(s[start:end], "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "```") || strings.HasPrefix(l, "<!--") {
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

// TestReadmeQuickstart runs the README's quick start with the aws CLI
// against a real strata process started the way `make run` starts it.
func TestReadmeQuickstart(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatal("aws CLI not found: `make aws-cli` installs Debian's awscli")
	}
	n := startNode(t)
	work := t.TempDir()
	lines := quickstartBlock(t)
	if len(lines) < 4 {
		t.Fatalf("quick start too short: %q", lines)
	}
	var lsOut string
	for _, l := range lines {
		if strings.HasPrefix(l, "export ") {
			continue // credentials: the test sets them itself
		}
		l = strings.ReplaceAll(l, "http://127.0.0.1:9000", n.s3URL())
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", l)
		cmd.Dir = work
		cmd.Env = append(os.Environ(),
			"AWS_ACCESS_KEY_ID="+n.AccessKey,
			"AWS_SECRET_ACCESS_KEY="+n.SecretKey,
			"AWS_DEFAULT_REGION=us-east-1",
			"AWS_CONFIG_FILE=/dev/null",
			"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		)
		var out bytes.Buffer
		cmd.Stdout = &out
		cmd.Stderr = &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("quick start line %q failed: %v\n%s\nstrata log:\n%s", l, err, out.String(), n.out.String())
		}
		if strings.Contains(l, " s3 ls ") {
			lsOut = out.String()
		}
	}
	if !strings.Contains(lsOut, "hello.txt") {
		t.Fatalf("aws s3 ls did not list hello.txt: %q", lsOut)
	}
	a, err := os.ReadFile(filepath.Join(work, "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(work, "hello-copy.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("downloaded copy differs: %q vs %q", a, b)
	}
}
