package sigv4

import (
	"bytes"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAWSCLI drives the verifier with the real aws CLI (botocore), whose
// canonicalisation and payload modes differ from the Go SDK's. Skipped when
// the aws command is not installed.
func TestAWSCLI(t *testing.T) {
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed (Debian package awscli)")
	}
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[useTLS], func(t *testing.T) {
			testAWSCLI(t, awsBin, useTLS)
		})
	}
}

// testAWSCLI runs the CLI against one server; over HTTPS botocore streams
// PutObject as aws-chunked with a checksum trailer.
func testAWSCLI(t *testing.T, awsBin string, useTLS bool) {
	objs := &objectServer{v: NewVerifier(testLookup, Options{}), objs: map[string][]byte{}, modes: map[string]string{}}
	dir := t.TempDir()
	srv := httptest.NewUnstartedServer(objs)
	caBundle := filepath.Join(dir, "ca.pem")
	if useTLS {
		srv.StartTLS()
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := os.WriteFile(caBundle, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)

	payload := bytes.Repeat([]byte("aws-cli payload "), 200000) // 3.2 MB, below the CLI's multipart threshold
	src := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(src, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(secret string, args ...string) (string, error) {
		cmd := exec.Command(awsBin, append([]string{"--endpoint-url", srv.URL, "--region", testRegion}, args...)...)
		cmd.Env = append(os.Environ(),
			"AWS_ACCESS_KEY_ID="+testAccessKey,
			"AWS_SECRET_ACCESS_KEY="+secret,
			"AWS_CONFIG_FILE="+filepath.Join(dir, "no-config"),
			"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "no-credentials"),
			"AWS_EC2_METADATA_DISABLED=true",
			"AWS_MAX_ATTEMPTS=1",
			"AWS_CA_BUNDLE="+caBundle,
		)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	keys := []string{"cli/plain.txt", "cli/with space+plus=eq&amp~tilde.txt", "cli/ünï/キー"}
	for _, key := range keys {
		if out, err := run(testSecret, "s3", "cp", src, "s3://bucket/"+key); err != nil {
			t.Fatalf("aws s3 cp %q: %v\n%s", key, err, out)
		}
		objs.mu.Lock()
		got, mode := objs.objs["/bucket/"+key], objs.modes["/bucket/"+key]
		objs.mu.Unlock()
		if !bytes.Equal(got, payload) {
			t.Fatalf("%q: stored %d bytes, want %d (mode %s)", key, len(got), len(payload), mode)
		}
		hash, sum, _ := strings.Cut(mode, " ")
		if useTLS && hash != StreamingUnsignedTrailer || !useTLS && !isSHA256Hex(hash) || !strings.HasPrefix(sum, checksumPrefix) {
			t.Fatalf("%q: aws CLI used payload mode %q", key, mode)
		}
	}
	if out, err := run(testSecret, "s3api", "put-object", "--bucket", "bucket", "--key", "cli/api", "--body", src); err != nil {
		t.Fatalf("aws s3api put-object: %v\n%s", err, out)
	}
	out, err := run(testSecret, "s3", "presign", "s3://bucket/"+keys[1], "--expires-in", "300")
	if err != nil {
		t.Fatalf("aws s3 presign: %v\n%s", err, out)
	}
	resp, err := srv.Client().Get(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("GET presigned: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned GET from the aws CLI: %d", resp.StatusCode)
	}
	if out, err := run("wrong-secret", "s3", "cp", src, "s3://bucket/cli/denied"); err == nil || !strings.Contains(out, CodeSignatureDoesNotMatch) {
		t.Fatalf("wrong secret: err %v\n%s", err, out)
	}
}
