package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/stratagw/strata/admin/api"
)

// healthCmd is `strata health`: a probe for container healthchecks. A
// scratch image has no curl, so the binary checks itself.
type healthCmd struct {
	URL     string        `name:"url" default:"http://127.0.0.1:9001/ready" help:"URL to GET (a node's /ready or /health)."`
	Timeout time.Duration `name:"timeout" default:"5s" help:"Give up after this long."`
}

// maxHealthBody bounds how much of a response is read for the reason: a
// probe must not hang or grow on a misbehaving endpoint.
const maxHealthBody = 64 << 10

// Run GETs the URL and succeeds only on 200 OK; otherwise the error names
// the reason (the node's own when it gave one).
func (c *healthCmd) Run(e env) error {
	if c.Timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	if err := probe(ctx, c.URL); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "ok: %s\n", c.URL)
	return nil
}

// probe returns nil when url answers 200 OK.
func probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health: bad --url %q: %w", url, err)
	}
	// No keep-alive and no proxy: the probe talks to one node, once.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("health: %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	if err != nil {
		return fmt.Errorf("health: %s: reading response: %w", url, err)
	}
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	return fmt.Errorf("health: %s: %s%s", url, resp.Status, reasonOf(body))
}

// reasonOf extracts the reason from a /ready body ({"status":..,"reason":..})
// or, failing that, shows the start of the body as text.
func reasonOf(body []byte) string {
	var st api.Status
	if json.Unmarshal(body, &st) == nil && st.Reason != "" {
		return ": " + st.Reason
	}
	text := strings.TrimSpace(string(body))
	if text == "" {
		return ""
	}
	const maxText = 200
	if len(text) > maxText {
		text = text[:maxText] + "…"
	}
	return ": " + text
}
