package main

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestHealth runs `strata health` against real HTTP servers answering in
// the ways a node (or something that is not a node) can.
func TestHealth(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("/not-ready", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"unavailable","reason":"no leader"}`))
	})
	mux.HandleFunc("/plain-error", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "something broke", http.StatusInternalServerError)
	})
	mux.HandleFunc("/huge-error", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	refused := "http://" + freePort(t) + "/ready"

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // regexp
		stderr string // regexp
	}{
		{"ready", []string{"--url", srv.URL + "/ready"}, 0, `^ok: http://.*/ready\n$`, `^$`},
		{"not ready says why", []string{"--url", srv.URL + "/not-ready"}, 1, `^$`,
			`^strata: health: http://\S+/not-ready: 503 Service Unavailable: no leader\n$`},
		{"plain error body", []string{"--url", srv.URL + "/plain-error"}, 1, `^$`,
			`^strata: health: \S+: 500 Internal Server Error: something broke\n$`},
		{"long body is cut", []string{"--url", srv.URL + "/huge-error"}, 1, `^$`,
			`^strata: health: \S+: 502 Bad Gateway: x{200}…\n$`},
		{"not found", []string{"--url", srv.URL + "/nope"}, 1, `^$`, `: 404 Not Found: 404 page not found\n$`},
		{"connection refused", []string{"--url", refused}, 1, `^$`, `^strata: health: \S+: .*connection refused\n$`},
		{"timeout", []string{"--url", srv.URL + "/slow", "--timeout", "300ms"}, 1, `^$`,
			`^strata: health: \S+/slow: .*(deadline exceeded|Timeout)`},
		{"bad url", []string{"--url", "::nope"}, 1, `^$`, `^strata: health: bad --url "::nope"`},
		{"zero timeout", []string{"--url", srv.URL + "/ready", "--timeout", "0s"}, 1, `^$`, `--timeout must be positive`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := strata(t, t.TempDir(), cleanEnv(), append([]string{"health"}, tc.args...)...)
			if r.code != tc.code || !regexp.MustCompile(tc.stdout).MatchString(r.stdout) ||
				!regexp.MustCompile(tc.stderr).MatchString(r.stderr) {
				t.Fatalf("code %d stdout %q stderr %q; want code %d stdout ~%q stderr ~%q",
					r.code, r.stdout, r.stderr, tc.code, tc.stdout, tc.stderr)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v: the probe must give up quickly", d)
			}
		})
	}
}

// TestHealthDefaultURL checks the default target is a node's /ready on
// 127.0.0.1:9001 (what the Dockerfile's HEALTHCHECK relies on).
func TestHealthDefaultURL(t *testing.T) {
	r := strata(t, t.TempDir(), cleanEnv(), "health", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "http://127.0.0.1:9001/ready") {
		t.Fatalf("help does not show the default URL: %+v", r)
	}
}

// TestHealthRealNode probes a running dev node: /health and /ready answer
// 200 once it is up, and health fails once it is stopped.
func TestHealthRealNode(t *testing.T) {
	dir := t.TempDir()
	p := startServer(t, dir, cleanEnv(), "--s3-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0")
	out := p.banner(t, regexp.MustCompile(`^\s+export AWS_ACCESS_KEY_ID=`))
	adminURL := match(t, `admin endpoint:\s+(http://127\.0\.0\.1:\d+)`, out)[1]

	for _, path := range []string{"/health", "/ready"} {
		r := strata(t, dir, cleanEnv(), "health", "--url", adminURL+path)
		if r.code != 0 || r.stdout != "ok: "+adminURL+path+"\n" {
			t.Fatalf("%s: %+v", path, r)
		}
	}
	p.stop(t)
	r := strata(t, dir, cleanEnv(), "health", "--url", adminURL+"/ready")
	if r.code != 1 || !strings.Contains(r.stderr, "connection refused") {
		t.Fatalf("after stop: %+v", r)
	}
}
