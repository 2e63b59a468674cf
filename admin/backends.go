package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/backend/pool"
	"github.com/stratagw/strata/fsm"
)

// AddBackend validates req, opens the backend and checks it is reachable
// with the given credentials (and, for an fs backend in a cluster, that
// every node sees its directory), and only then commits it together with
// one virtual region per backing region. Nothing is committed on any
// failure.
func (s *Service) AddBackend(ctx context.Context, req api.AddBackend) (api.Backend, error) {
	cfg, err := validateAddBackend(req)
	if err != nil {
		return api.Backend{}, err
	}
	if _, taken, err := s.d.State.BackendByName(req.Name); err != nil {
		return api.Backend{}, fmt.Errorf("look up backend %q: %w", req.Name, err)
	} else if taken {
		return api.Backend{}, errf(http.StatusConflict, api.CodeConflict, "a backend named %q exists", req.Name)
	}
	backingRegions, err := s.probe(ctx, req.Name, cfg)
	if err != nil {
		return api.Backend{}, err
	}
	if err := s.checkShared(ctx, cfg); err != nil {
		return api.Backend{}, err
	}
	rec, regions, err := s.newBackendRecord(req, backingRegions)
	if err != nil {
		return api.Backend{}, err
	}
	if _, err := s.apply(ctx, fsm.CmdPutBackend, fsm.PutBackend{Backend: rec, Regions: regions}); err != nil {
		return api.Backend{}, err
	}
	s.log.Info("backend added", "name", rec.Name, "id", rec.ID, "backend", cfg.String())
	return backendView(rec, regions), nil
}

// validateAddBackend checks the request and returns the backend config.
func validateAddBackend(req api.AddBackend) (backend.Config, error) {
	if err := checkBackendName(req.Name); err != nil {
		return backend.Config{}, err
	}
	switch req.Type {
	case "fs":
		if req.Path == "" {
			return backend.Config{}, invalid("an fs backend needs a path")
		}
		if !filepath.IsAbs(req.Path) {
			return backend.Config{}, invalid("fs backend path %q must be absolute", req.Path)
		}
		if req.Endpoint != "" || req.AccessKey != "" || req.SecretKey != "" || req.Region != "" {
			return backend.Config{}, invalid("an fs backend takes a path only (no endpoint, region or keys)")
		}
		return backend.Config{Type: "fs", Path: filepath.Clean(req.Path)}, nil
	case "s3":
		u, err := url.Parse(req.Endpoint)
		if err == nil && u.User != nil {
			return backend.Config{}, invalid("the s3 backend endpoint must not contain credentials: give them as the access key and secret key")
		}
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			if strings.Contains(req.Endpoint, "@") {
				// It may hold user:password: do not echo it.
				return backend.Config{}, invalid("s3 backend endpoint must be an http:// or https:// URL")
			}
			return backend.Config{}, invalid("s3 backend endpoint %q must be an http:// or https:// URL", req.Endpoint)
		}
		switch {
		case req.Region == "":
			return backend.Config{}, invalid("an s3 backend needs a region")
		case req.AccessKey == "" || req.SecretKey == "":
			return backend.Config{}, invalid("an s3 backend needs an access key and a secret key")
		case req.Path != "":
			return backend.Config{}, invalid("an s3 backend takes no path")
		}
		if err := checkRegionName(req.Region); err != nil {
			return backend.Config{}, err
		}
		return backend.Config{Type: "s3", Endpoint: req.Endpoint, Region: req.Region,
			PathStyle: req.PathStyle, AccessKey: req.AccessKey, SecretKey: req.SecretKey}, nil
	case "":
		return backend.Config{}, invalid("backend type is required (fs or s3)")
	}
	return backend.Config{}, invalid("unknown backend type %q (fs or s3)", req.Type)
}

// probe opens the backend and checks it, returning its backing regions.
// An open failure (lockdown, bad path) is the caller's mistake; a failed
// check means the backend cannot be reached or refuses the credentials.
func (s *Service) probe(ctx context.Context, name string, cfg backend.Config) ([]string, error) {
	b, err := s.d.OpenBackend(ctx, cfg)
	if err != nil {
		return nil, invalid("cannot open backend %q: %v", name, err)
	}
	defer b.Close()
	cctx, cancel := context.WithTimeout(ctx, s.d.CheckTimeout)
	defer cancel()
	if err := b.Check(cctx); err != nil {
		return nil, errf(http.StatusBadGateway, api.CodeBackendUnreachable,
			"backend %q (%s) is not usable: %v", name, cfg.String(), err)
	}
	regions := b.Regions()
	if len(regions) == 0 {
		return nil, errf(http.StatusBadGateway, api.CodeBackendUnreachable, "backend %q reports no region", name)
	}
	return regions, nil
}

// SharedPathChecker verifies that every other node of the cluster sees the
// directory at path (an fs backend's root) as this node does. It returns
// nil when they all do, or when the cluster has one node; a
// *NotSharedError when some node answered that it cannot see it or could
// not be asked; any other error when the check could not run.
type SharedPathChecker func(ctx context.Context, path string) error

// NotSharedError is a SharedPathChecker's refusal: the nodes that do not
// see the directory, each with the reason.
type NotSharedError struct {
	// Path is the fs backend path checked.
	Path string
	// Problems says, per node, what went wrong ("node n2 cannot read the
	// marker (…)").
	Problems []string
}

// Error implements error.
func (e *NotSharedError) Error() string {
	return fmt.Sprintf("fs backend path %s is not shared: %s: mount the same directory on every node",
		e.Path, strings.Join(e.Problems, "; "))
}

// checkShared makes sure an fs backend's directory is the same on every
// node: each node reads and writes objects there itself, so a directory
// that is local to one node would lose objects for the others.
func (s *Service) checkShared(ctx context.Context, cfg backend.Config) error {
	if cfg.Type != "fs" || s.d.CheckSharedPath == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.d.CheckTimeout)
	defer cancel()
	return sharedPathError(cfg.Path, s.d.CheckSharedPath(ctx, cfg.Path))
}

// sharedPathError maps a SharedPathChecker's error to the admin answer.
func sharedPathError(path string, err error) error {
	var ns *NotSharedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ns):
		return errf(http.StatusConflict, api.CodeConflict, "%s", ns.Error())
	case notReady(err):
		return errf(http.StatusServiceUnavailable, api.CodeNotReady,
			"cannot check that fs backend path %s is shared by every node: %v; retry later", path, err)
	}
	return errf(http.StatusBadGateway, api.CodeBackendUnreachable,
		"cannot check that fs backend path %s is shared by every node: %v", path, err)
}

// newBackendRecord builds the backend record (new id, sealed secret) and a
// virtual region per backing region, named after it and made unique.
func (s *Service) newBackendRecord(req api.AddBackend, backingRegions []string) (fsm.Backend, []fsm.Region, error) {
	id, err := newBackendID()
	if err != nil {
		return fsm.Backend{}, nil, err
	}
	rec := fsm.Backend{
		ID: id, Name: req.Name, Type: req.Type, Path: req.Path, Endpoint: req.Endpoint,
		Region: req.Region, PathStyle: req.PathStyle, AccessKey: req.AccessKey,
		CreatedAt: s.d.Now().UTC(),
	}
	if rec.Type == "fs" {
		rec.Path = filepath.Clean(req.Path)
	}
	if req.SecretKey != "" {
		sealed, err := s.d.Box.Seal(pool.SecretLabel(id), []byte(req.SecretKey))
		if err != nil {
			return fsm.Backend{}, nil, fmt.Errorf("seal backend secret: %w", err)
		}
		rec.SecretSealed = sealed
	}
	existing, err := s.d.State.Regions()
	if err != nil {
		return fsm.Backend{}, nil, fmt.Errorf("list regions: %w", err)
	}
	taken := make(map[string]bool, len(existing)+len(backingRegions))
	for _, r := range existing {
		taken[r.Name] = true
	}
	regions := make([]fsm.Region, 0, len(backingRegions))
	for _, br := range backingRegions {
		name := uniqueName(br, taken)
		taken[name] = true
		regions = append(regions, fsm.Region{Name: name, Backings: []fsm.BackingRegion{{BackendID: id, Region: br}}})
	}
	return rec, regions, nil
}

// uniqueName returns base, or base-2, base-3, … whichever is not taken.
func uniqueName(base string, taken map[string]bool) string {
	if !taken[base] {
		return base
	}
	for i := 2; ; i++ {
		n := base + "-" + strconv.Itoa(i)
		if !taken[n] {
			return n
		}
	}
}

func newBackendID() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate backend id: %w", err)
	}
	return "be-" + hex.EncodeToString(b), nil
}

// checkBackendName: 1–63 characters of [A-Za-z0-9._-], starting with a
// letter or digit, so names are safe in URLs, tables and logs.
func checkBackendName(n string) error {
	if !isName(n, true) {
		return invalid("backend name %q must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", n)
	}
	return nil
}

// checkRegionName: region names are what clients send as
// LocationConstraint: 1–63 lower-case letters, digits and '-'.
func checkRegionName(n string) error {
	if !isName(n, false) {
		return invalid("region name %q must be 1 to 63 lower-case letters, digits or '-', starting with a letter or digit", n)
	}
	return nil
}

func isName(n string, loose bool) bool {
	if n == "" || len(n) > 63 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && c == '-':
		case loose && c >= 'A' && c <= 'Z':
		case loose && i > 0 && (c == '.' || c == '_'):
		default:
			return false
		}
	}
	return true
}
