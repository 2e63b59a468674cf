package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	nethttp "net/http"
)

const (
	benchRegion = "bench"
	adminAK     = "AKBENCHADMIN00000001"
	adminSK     = "bench-admin-secret-0123456789abcdefghij"
	backendAK   = "AKBENCHBACKEND000001"
	backendSK   = "bench-backend-secret-0123456789abcdefgh"
)

// env is the running pair: versitygw and strata in front of it.
type env struct {
	dir       string
	keep      bool
	gw        *proc
	strata    *proc
	gwURL     string
	strataURL string
	adminURL  string
	direct    *s3.Client
	through   *s3.Client
	strataBin string
}

func newClient(endpoint, ak, sk string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       "us-east-1",
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(t *nethttp.Transport) {
			t.MaxIdleConnsPerHost = 256
			t.MaxIdleConns = 256
		}),
	})
}

func binFromEnv(name, def string) (string, error) {
	p := os.Getenv(name)
	if p == "" {
		p = def
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s=%q: %w (run `make build tools`)", name, p, err)
	}
	return p, nil
}

func startEnv(ctx context.Context, keep bool) (*env, error) {
	home, _ := os.UserHomeDir()
	gwBin, err := binFromEnv("STRATA_VERSITYGW", filepath.Join(home, ".cache/strata/tools/versitygw-v1.8.0/versitygw"))
	if err != nil {
		return nil, err
	}
	strataBin, err := binFromEnv("STRATA_BINARY", "bin/strata")
	if err != nil {
		return nil, err
	}
	strataBin, _ = filepath.Abs(strataBin)
	dir, err := os.MkdirTemp("", "strata-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, keep: keep, strataBin: strataBin}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()

	gwAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	gwData := filepath.Join(dir, "versitygw")
	if err := os.MkdirAll(gwData, 0o755); err != nil {
		return nil, err
	}
	e.gw, err = startProc("versitygw", dir, []string{"ROOT_ACCESS_KEY_ID=" + backendAK, "ROOT_SECRET_ACCESS_KEY=" + backendSK},
		gwBin, "--port", gwAddr, "posix", gwData)
	if err != nil {
		return nil, err
	}
	e.gwURL = "http://" + gwAddr
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := waitHTTP(wctx, e.gwURL, func(int) bool { return true }); err != nil {
		return nil, err
	}

	s3Addr, _ := freeAddr()
	adminAddr, _ := freeAddr()
	raftAddr, _ := freeAddr()
	// Gossip too: the default :9101 may belong to another node on this host.
	gossipAddr, _ := freeAddr()
	e.strata, err = startProc("strata", dir, []string{
		"STRATA_ADMIN_ACCESS_KEY=" + adminAK, "STRATA_ADMIN_SECRET_KEY=" + adminSK,
		"STRATA_CLUSTER_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	}, strataBin, "server", "--bootstrap", "--data-dir", filepath.Join(dir, "strata-data"),
		"--s3-addr", s3Addr, "--admin-addr", adminAddr, "--raft-addr", raftAddr, "--gossip-addr", gossipAddr)
	if err != nil {
		return nil, err
	}
	e.strataURL = "http://" + s3Addr
	e.adminURL = "http://" + adminAddr
	if err := waitHTTP(wctx, e.adminURL+"/ready", func(c int) bool { return c == 200 }); err != nil {
		return nil, err
	}
	if err := e.admin(ctx, "admin", "backend", "add", "--name", "gw", "--type", "s3",
		"--endpoint", e.gwURL, "--region", "us-east-1", "--access-key", backendAK, "--secret-key", backendSK, "--path-style"); err != nil {
		return nil, err
	}
	if err := e.admin(ctx, "admin", "region", "rename", "us-east-1", benchRegion); err != nil {
		return nil, err
	}
	e.direct = newClient(e.gwURL, backendAK, backendSK)
	e.through = newClient(e.strataURL, adminAK, adminSK)
	log.Printf("versitygw at %s, strata at %s (dir %s)", e.gwURL, e.strataURL, dir)
	ok = true
	return e, nil
}

func (e *env) admin(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, e.strataBin, args...)
	cmd.Env = append(os.Environ(), "STRATA_ADMIN_URL="+e.adminURL, "STRATA_ACCESS_KEY="+adminAK, "STRATA_SECRET_KEY="+adminSK)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("strata %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (e *env) close() {
	e.strata.stop()
	e.gw.stop()
	if !e.keep && e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

// strataPID is the pid of the strata process (for RSS sampling).
func (e *env) strataPID() int { return e.strata.cmd.Process.Pid }
