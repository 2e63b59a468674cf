package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/admin/client"
	"github.com/stratagw/strata/internal/testenv"
	"github.com/stratagw/strata/server"
)

const (
	adminAK = "SKTESTADMIN000000001"
	adminSK = "test-admin-secret-0123456789abcdefghijkl"
)

// node is one in-process strata node with fs lockdown on and one allowed
// root besides the development backend's.
type node struct {
	srv     *server.Server
	allowed string
	client  *client.Client
}

func startNode(t *testing.T) *node {
	t.Helper()
	dir := t.TempDir()
	allowed := filepath.Join(dir, "allowed")
	if err := os.MkdirAll(allowed, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := server.Start(ctx, server.Config{
		NodeID: "n1", DataDir: filepath.Join(dir, "data"),
		S3Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0",
		Bootstrap: true, ClusterKey: []byte("0123456789abcdef0123456789abcdef"),
		AdminAccessKey: adminAK, AdminSecretKey: adminSK,
		FSLockdown: true, FSAllowedRoots: []string{allowed}, DevBackend: true,
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	c, err := client.New(srv.AdminURL(), adminAK, adminSK)
	if err != nil {
		t.Fatal(err)
	}
	return &node{srv: srv, allowed: allowed, client: c}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// apiErr asserts err is an admin API error with the given status and code.
func apiErr(t *testing.T, err error, status int, code string) *client.APIError {
	t.Helper()
	var ae *client.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), want an API error %d %s", err, err, status, code)
	}
	if ae.Status != status || ae.Code != code {
		t.Fatalf("err = %d %s %q, want %d %s", ae.Status, ae.Code, ae.Message, status, code)
	}
	return ae
}

func backendNames(t *testing.T, n *node) []string {
	t.Helper()
	bes, err := n.client.Backends(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range bes {
		names = append(names, b.Name)
	}
	return names
}

func TestHealthAndReady(t *testing.T) {
	n := startNode(t)
	for _, path := range []string{"/health", "/ready"} {
		resp, err := http.Get(n.srv.AdminURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		var st api.Status
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || st.Status != "ok" {
			t.Fatalf("%s: %d %+v %v", path, resp.StatusCode, st, err)
		}
	}
	cl, err := n.client.Cluster(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if cl.NodeID != "n1" || cl.State != "Leader" || cl.Leader != "n1" || !cl.Ready || cl.AppliedIndex == 0 || cl.ClusterID == "" || cl.DefaultRegion != "local" {
		t.Fatalf("cluster: %+v", cl)
	}
}

func TestAuthentication(t *testing.T) {
	n := startNode(t)
	wrong, err := client.New(n.srv.AdminURL(), adminAK, "not-the-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := client.New(n.srv.AdminURL(), "SKNOBODY00000000000", adminSK)
	if err != nil {
		t.Fatal(err)
	}
	anonymous, err := client.New(n.srv.AdminURL(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*client.Client{"wrong secret": wrong, "unknown key": unknown, "unsigned": anonymous} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Backends(ctxT(t))
			apiErr(t, err, http.StatusForbidden, api.CodeAccessDenied)
			_, err = c.AddBackend(ctxT(t), api.AddBackend{Name: "x", Type: "fs", Path: n.allowed})
			apiErr(t, err, http.StatusForbidden, api.CodeAccessDenied)
		})
	}
	if got := backendNames(t, n); len(got) != 1 || got[0] != "local" {
		t.Fatalf("backends after refused requests: %v", got)
	}

	// A raw unsigned request gets the JSON error document.
	resp, err := http.Get(n.srv.AdminURL() + "/v1/backends")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb api.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || resp.StatusCode != 403 || eb.Error.Code != "AccessDenied" ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("unsigned: %d %+v %v", resp.StatusCode, eb, err)
	}
}

func TestUnknownEndpointAndMethod(t *testing.T) {
	n := startNode(t)
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/v1/nothing", 404, api.CodeNotFound},
		{http.MethodPatch, "/v1/backends", 405, api.CodeMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tc.method, n.srv.AdminURL()+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb api.ErrorBody
		err = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.status || eb.Error.Code != tc.code {
			t.Fatalf("%s %s: %d %+v %v", tc.method, tc.path, resp.StatusCode, eb, err)
		}
	}
}

func TestAddFSBackend(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	be, err := n.client.AddBackend(ctx, api.AddBackend{Name: "archive", Type: "fs", Path: n.allowed})
	if err != nil {
		t.Fatal(err)
	}
	// "local" is taken by the development backend's region.
	if be.Type != "fs" || be.Path != n.allowed || !strings.HasPrefix(be.ID, "be-") || len(be.ID) != 15 ||
		len(be.Regions) != 1 || be.Regions[0] != "local-2" {
		t.Fatalf("added: %+v", be)
	}
	if got := backendNames(t, n); len(got) != 2 {
		t.Fatalf("backends: %v", got)
	}
	_, err = n.client.AddBackend(ctx, api.AddBackend{Name: "archive", Type: "fs", Path: n.allowed})
	apiErr(t, err, http.StatusConflict, api.CodeConflict)
}

func TestAddBackendRefused(t *testing.T) {
	n := startNode(t)
	outside := t.TempDir() // not under the allow-list
	tests := []struct {
		name   string
		req    api.AddBackend
		status int
		code   string
		msg    string
	}{
		{"lockdown", api.AddBackend{Name: "b", Type: "fs", Path: outside}, 400, api.CodeInvalidRequest, "cannot open backend"},
		{"relative path", api.AddBackend{Name: "b", Type: "fs", Path: "data/x"}, 400, api.CodeInvalidRequest, "must be absolute"},
		{"no path", api.AddBackend{Name: "b", Type: "fs"}, 400, api.CodeInvalidRequest, "needs a path"},
		{"bad type", api.AddBackend{Name: "b", Type: "ftp"}, 400, api.CodeInvalidRequest, "unknown backend type"},
		{"bad name", api.AddBackend{Name: "-b", Type: "fs", Path: n.allowed}, 400, api.CodeInvalidRequest, "backend name"},
		{"s3 without keys", api.AddBackend{Name: "b", Type: "s3", Endpoint: "http://127.0.0.1:1", Region: "r"}, 400, api.CodeInvalidRequest, "access key"},
		{"s3 bad endpoint", api.AddBackend{Name: "b", Type: "s3", Endpoint: "127.0.0.1:1", Region: "r", AccessKey: "a", SecretKey: "s"}, 400, api.CodeInvalidRequest, "endpoint"},
		{"s3 credentials in endpoint", api.AddBackend{Name: "b", Type: "s3", Endpoint: "http://user:topsecret@127.0.0.1:1", Region: "r", AccessKey: "a", SecretKey: "s"}, 400, api.CodeInvalidRequest, "must not contain credentials"},
		{"s3 unparsable endpoint with credentials", api.AddBackend{Name: "b", Type: "s3", Endpoint: "http://user:topsecret@[::1", Region: "r", AccessKey: "a", SecretKey: "s"}, 400, api.CodeInvalidRequest, "endpoint"},
		{"s3 unreachable", api.AddBackend{Name: "b", Type: "s3", Endpoint: "http://127.0.0.1:1", Region: "us-east-1", AccessKey: "a", SecretKey: "topsecret-value"},
			502, api.CodeBackendUnreachable, "not usable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := n.client.AddBackend(ctxT(t), tt.req)
			ae := apiErr(t, err, tt.status, tt.code)
			if !strings.Contains(ae.Message, tt.msg) {
				t.Fatalf("message %q does not contain %q", ae.Message, tt.msg)
			}
			if strings.Contains(ae.Message, "topsecret") {
				t.Fatalf("secret echoed: %q", ae.Message)
			}
			if got := backendNames(t, n); len(got) != 1 {
				t.Fatalf("something was committed: %v", got)
			}
			regions, err := n.client.Regions(ctxT(t))
			if err != nil || len(regions) != 1 {
				t.Fatalf("regions: %+v %v", regions, err)
			}
		})
	}
}

func TestAddS3Backend(t *testing.T) {
	n := startNode(t)
	vgw := testenv.Versitygw(t)
	ctx := ctxT(t)
	be, err := n.client.AddBackend(ctx, api.AddBackend{
		Name: "vgw", Type: "s3", Endpoint: vgw.Endpoint, Region: vgw.Region,
		AccessKey: vgw.AccessKey, SecretKey: vgw.SecretKey, PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if be.Type != "s3" || be.AccessKey != vgw.AccessKey || len(be.Regions) != 1 || be.Regions[0] != vgw.Region {
		t.Fatalf("added: %+v", be)
	}
	// The listing shows the access key but never the secret.
	raw := rawSigned(t, n, http.MethodGet, "/v1/backends")
	if strings.Contains(raw, vgw.SecretKey) || !strings.Contains(raw, vgw.AccessKey) {
		t.Fatalf("backend list leaks the secret or lacks the access key:\n%s", raw)
	}
	// The state holds it sealed only.
	rec, ok, err := n.srv.State().BackendByName("vgw")
	if err != nil || !ok || len(rec.SecretSealed) == 0 || strings.Contains(string(rec.SecretSealed), vgw.SecretKey) {
		t.Fatalf("record: %+v %v %v", rec, ok, err)
	}

	// Wrong credentials against a live server: refused, nothing committed.
	_, err = n.client.AddBackend(ctx, api.AddBackend{
		Name: "vgw-bad", Type: "s3", Endpoint: vgw.Endpoint, Region: vgw.Region,
		AccessKey: vgw.AccessKey, SecretKey: "wrong-secret-key-000", PathStyle: true,
	})
	apiErr(t, err, http.StatusBadGateway, api.CodeBackendUnreachable)
	if got := backendNames(t, n); len(got) != 2 {
		t.Fatalf("backends: %v", got)
	}
}

// rawSigned sends a signed request and returns the raw body, to look at
// exactly what the API put on the wire.
func rawSigned(t *testing.T, n *node, method, path string) string {
	t.Helper()
	req, err := n.client.NewRequest(ctxT(t), method, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, err)
	}
	return string(b)
}

func TestRegionsRenameAndDefault(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	if _, err := n.client.AddBackend(ctx, api.AddBackend{Name: "archive", Type: "fs", Path: n.allowed}); err != nil {
		t.Fatal(err)
	}
	r, err := n.client.RenameRegion(ctx, "local-2", "archive")
	if err != nil || r.Name != "archive" || len(r.Backings) != 1 || r.Backings[0].Backend != "archive" || r.Backings[0].Region != "local" {
		t.Fatalf("rename: %+v %v", r, err)
	}
	_, err = n.client.RenameRegion(ctx, "nope", "x")
	apiErr(t, err, http.StatusNotFound, api.CodeNotFound)
	_, err = n.client.RenameRegion(ctx, "archive", "local")
	apiErr(t, err, http.StatusConflict, api.CodeConflict)
	_, err = n.client.RenameRegion(ctx, "archive", "Bad Name")
	apiErr(t, err, http.StatusBadRequest, api.CodeInvalidRequest)

	if err := n.client.SetDefaultRegion(ctx, "archive"); err != nil {
		t.Fatal(err)
	}
	apiErr(t, n.client.SetDefaultRegion(ctx, "nope"), http.StatusNotFound, api.CodeNotFound)
	regions, err := n.client.Regions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]bool{}
	for _, r := range regions {
		defaults[r.Name] = r.Default
	}
	if len(regions) != 2 || !defaults["archive"] || defaults["local"] {
		t.Fatalf("regions: %+v", regions)
	}
}

func TestRemoveBackend(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	if _, err := n.client.AddBackend(ctx, api.AddBackend{Name: "archive", Type: "fs", Path: n.allowed}); err != nil {
		t.Fatal(err)
	}
	s3c := s3.New(s3.Options{
		BaseEndpoint: aws.String(n.srv.S3URL()), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(adminAK, adminSK, ""),
		HTTPClient:  awshttp.NewBuildableClient(), RetryMaxAttempts: 1,
	})
	_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                    aws.String("photos"),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint("local-2")},
	})
	if err != nil {
		t.Fatal(err)
	}
	buckets, err := n.client.Buckets(ctx)
	if err != nil || len(buckets) != 1 || buckets[0].Name != "photos" || buckets[0].Region != "local-2" ||
		len(buckets[0].Backings) != 1 || buckets[0].Backings[0].Backend != "archive" || !strings.HasPrefix(buckets[0].Backings[0].Name, "photos-") {
		t.Fatalf("buckets: %+v %v", buckets, err)
	}
	apiErr(t, n.client.RemoveBackend(ctx, "archive"), http.StatusConflict, api.CodeConflict)
	apiErr(t, n.client.RemoveBackend(ctx, "nope"), http.StatusNotFound, api.CodeNotFound)

	if _, err := s3c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	if err := n.client.RemoveBackend(ctx, "archive"); err != nil {
		t.Fatal(err)
	}
	if got := backendNames(t, n); len(got) != 1 || got[0] != "local" {
		t.Fatalf("backends: %v", got)
	}
	regions, err := n.client.Regions(ctx)
	if err != nil || len(regions) != 1 {
		t.Fatalf("regions after remove: %+v %v", regions, err)
	}
}

func TestBodyMustMatchSignature(t *testing.T) {
	n := startNode(t)
	// Sign one body, send another of the same length: the payload hash
	// check refuses it before anything is decoded or committed.
	good := `{"name":"good","type":"fs","path":"` + n.allowed + `"}`
	evil := `{"name":"evil","type":"fs","path":"` + n.allowed + `"}`
	req, err := n.client.NewRequest(ctxT(t), http.MethodPost, "/v1/backends", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	req.Body = io.NopCloser(strings.NewReader(evil))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "AccessDenied") {
		t.Fatalf("tampered body: %d %s", resp.StatusCode, body)
	}
	if got := backendNames(t, n); len(got) != 1 {
		t.Fatalf("backends: %v", got)
	}
}

// TestNotReady: a node that has neither raft state nor a bootstrap flag
// has no leader; /health still answers, /ready says why it is not ready.
func TestNotReady(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := server.Start(ctx, server.Config{
		NodeID: "n1", DataDir: t.TempDir(),
		S3Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0",
		ClusterKey: []byte("0123456789abcdef0123456789abcdef"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for path, want := range map[string]int{"/health": 200, "/ready": 503} {
		resp, err := http.Get(srv.AdminURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		var st api.Status
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || resp.StatusCode != want {
			t.Fatalf("%s: %d %+v %v", path, resp.StatusCode, st, err)
		}
		if want == 503 && (st.Status != "unavailable" || !strings.Contains(st.Reason, "leader")) {
			t.Fatalf("%s: %+v", path, st)
		}
	}
}

// TestUnsignedPayloadRefusedForWrites: a signature over UNSIGNED-PAYLOAD
// does not protect the body, so it may read but not change state.
func TestUnsignedPayloadRefusedForWrites(t *testing.T) {
	n := startNode(t)
	send := func(method, path, body string) (int, string) {
		req, err := http.NewRequest(method, n.srv.AdminURL()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		creds := aws.Credentials{AccessKeyID: adminAK, SecretAccessKey: adminSK}
		if err := v4.NewSigner().SignHTTP(ctxT(t), creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := send(http.MethodGet, "/v1/backends", ""); status != http.StatusOK {
		t.Fatalf("GET: %d %s", status, body)
	}
	status, body := send(http.MethodPost, "/v1/backends", `{"name":"x","type":"fs","path":"`+n.allowed+`"}`)
	if status != http.StatusForbidden || !strings.Contains(body, "must sign their payload") {
		t.Fatalf("POST: %d %s", status, body)
	}
	if got := backendNames(t, n); len(got) != 1 {
		t.Fatalf("backends: %v", got)
	}
}
