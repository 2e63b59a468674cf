package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/gateway/sigv4"
)

// DefaultMaxObjectSize is S3's limit for a single PUT: 5 GiB.
const DefaultMaxObjectSize int64 = 5 << 30

// Config is the gateway's node-local configuration.
type Config struct {
	// Domains are the base domains of virtual-hosted-style requests: a
	// Host of "photos.s3.example.com" with Domains ["s3.example.com"]
	// addresses bucket "photos". Requests to any other host are
	// path-style.
	Domains []string
	// MaxObjectSize bounds a single PutObject/CopyObject (default 5 GiB).
	MaxObjectSize int64
	// MaxSkew is the allowed clock skew of signed requests (default 15m).
	MaxSkew time.Duration
	// Now is the clock used for signature checks and timestamps (default
	// time.Now); tests set it to simulate skew.
	Now func() time.Time
	// RepairGrace is how old (by ModTime, on this node's clock) a record
	// whose bytes are missing on every replica must be before a read or a
	// delete removes it: the longest a backend may answer "not found" for
	// an object it just stored (see object_delete.go). 0 means
	// DefaultRepairGrace; negative turns the repair off.
	RepairGrace time.Duration
}

// Gateway is the S3 API handler. It is safe for concurrent use.
type Gateway struct {
	cfg      Config
	state    fsm.Reader
	cluster  Cluster
	backends Backends
	creds    Credentials
	log      *slog.Logger
	verifier *sigv4.Verifier
	locks    *keyLocks
	routes   []route
	// work counts requests and detached writes in flight (see Drain).
	work inflight
	// copyBufs holds the streaming copy buffers (see copyBody).
	copyBufs sync.Pool
}

// New builds a Gateway. Every dependency is required except the logger.
func New(cfg Config, deps Deps) (*Gateway, error) {
	if deps.State == nil || deps.Cluster == nil || deps.Backends == nil || deps.Credentials == nil {
		return nil, errors.New("gateway: State, Cluster, Backends and Credentials are required")
	}
	if cfg.MaxObjectSize <= 0 {
		cfg.MaxObjectSize = DefaultMaxObjectSize
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = 15 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	domains := make([]string, 0, len(cfg.Domains))
	for _, d := range cfg.Domains {
		d = strings.ToLower(strings.Trim(strings.TrimSpace(d), "."))
		if d == "" {
			return nil, fmt.Errorf("gateway: empty domain in %q", cfg.Domains)
		}
		domains = append(domains, d)
	}
	cfg.Domains = domains
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{
		cfg:      cfg,
		state:    deps.State,
		cluster:  deps.Cluster,
		backends: deps.Backends,
		creds:    deps.Credentials,
		log:      logger.With("component", "gateway"),
		locks:    newKeyLocks(),
	}
	g.verifier = sigv4.NewVerifier(g.lookupSecret, sigv4.Options{Now: cfg.Now, MaxSkew: cfg.MaxSkew, Service: "s3"})
	g.routes = g.routeTable()
	return g, nil
}

// lookupSecret adapts Credentials to the verifier's lookup function.
func (g *Gateway) lookupSecret(ctx context.Context, accessKey string) (string, bool, error) {
	_, secret, ok, err := g.creds.Lookup(ctx, accessKey)
	if err != nil {
		return "", false, fmt.Errorf("look up access key: %w", err)
	}
	return secret, ok, nil
}

// ServeHTTP implements http.Handler: request id → addressing → SigV4 →
// routing → handler → renderer.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.work.add()
	defer g.work.done()
	start := time.Now()
	req := &request{
		HTTP:          r,
		ID:            newRequestID(),
		Header:        r.Header,
		Query:         r.URL.Query(),
		ContentLength: r.ContentLength,
		Body:          r.Body,
	}
	resp, err := g.serve(r.Context(), req)
	status := g.render(w, req, resp, err)
	g.log.Debug("request", "id", req.ID, "method", r.Method, "path", r.URL.Path,
		"bucket", req.Bucket, "status", status, "duration", time.Since(start))
}

// serve runs the middlewares and the matched handler.
func (g *Gateway) serve(ctx context.Context, req *request) (*response, error) {
	bucket, key := g.address(req.HTTP)
	req.Bucket, req.Key = bucket, key
	if err := g.authenticate(ctx, req); err != nil {
		return nil, err
	}
	h, err := g.match(req)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}
