// Package client is the Go client of the admin API. The strata CLI and the
// tests use it; every request is SigV4-signed with an admin credential the
// way any AWS SDK would sign it.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/stratagw/strata/admin/api"
)

// DefaultURL is where a local node's admin API listens by default.
const DefaultURL = "http://127.0.0.1:9001"

// signingRegion is the region the client signs for; the verifier accepts
// any region, "us-east-1" is what SDKs default to.
const signingRegion = "us-east-1"

// Client talks to one node's admin API.
type Client struct {
	base      *url.URL
	accessKey string
	secretKey string
	http      *http.Client
	signer    *v4.Signer
	now       func() time.Time
}

// New returns a client for the admin API at baseURL ("http://host:port")
// signing with the given credential.
func New(baseURL, accessKey, secretKey string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("admin URL %q must look like http://HOST:PORT", baseURL)
	}
	return &Client{
		base:      u,
		accessKey: accessKey,
		secretKey: secretKey,
		http:      &http.Client{Timeout: 2 * time.Minute},
		signer:    v4.NewSigner(),
		now:       time.Now,
	}, nil
}

// URL returns the base URL the client talks to.
func (c *Client) URL() string { return c.base.String() }

// APIError is an error answer of the admin API.
type APIError struct {
	Status  int
	Code    string
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
	}
	return e.Message
}

// UnreachableError means no HTTP answer came back from the admin API.
type UnreachableError struct {
	URL string
	Err error
}

// Error implements error.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach admin API at %s: %v", e.URL, rootCause(e.Err))
}

// Unwrap returns the transport error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// rootCause strips url.Error/net.OpError wrapping down to the message a
// person understands ("connection refused").
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// do sends a signed request with an optional JSON body and decodes a JSON
// answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = b
	}
	req, err := c.NewRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return &UnreachableError{URL: c.base.String(), Err: err}
	}
	defer resp.Body.Close()
	return decodeResponse(resp, out)
}

// NewRequest builds one signed request for path (e.g. "/v1/backends")
// with body as its payload, for callers that need the raw answer. The
// payload hash is sent in x-amz-content-sha256 too, as S3 clients do.
func (c *Client) NewRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	u := *c.base
	u.Path = c.base.Path + path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if c.accessKey == "" {
		return req, nil // anonymous: only /health and /ready answer
	}
	creds := aws.Credentials{AccessKeyID: c.accessKey, SecretAccessKey: c.secretKey}
	if err := c.signer.SignHTTP(ctx, creds, req, hash, "s3", signingRegion, c.now()); err != nil {
		return nil, fmt.Errorf("sign request: %w", err)
	}
	return req, nil
}

// decodeResponse maps non-2xx answers to *APIError and decodes the rest.
func decodeResponse(resp *http.Response, out any) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read admin API answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var eb api.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
			return &APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
		}
		return &APIError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode),
			Message: fmt.Sprintf("admin API answered %s: %s", resp.Status, strings.TrimSpace(string(b)))}
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode admin API answer: %w", err)
	}
	return nil
}
