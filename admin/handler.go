package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/gateway/sigv4"
	"github.com/stratagw/strata/iam"
)

// maxBody bounds admin request bodies; they are small JSON documents.
const maxBody = 1 << 20

// Verifier checks SigV4 signatures (*sigv4.Verifier).
type Verifier interface {
	Verify(r *http.Request) (*sigv4.Auth, error)
}

// Credentials resolves the access key of a verified request (*iam.Store).
type Credentials interface {
	Lookup(ctx context.Context, accessKey string) (id iam.Identity, secret string, ok bool, err error)
}

// HandlerDeps are the collaborators of the admin HTTP handler.
type HandlerDeps struct {
	Service     *Service
	Verifier    Verifier
	Credentials Credentials
	// Metrics, when set, is served unauthenticated at /metrics.
	Metrics http.Handler
	Logger  *slog.Logger
}

// Handler is the admin API's http.Handler.
type Handler struct {
	d   HandlerDeps
	log *slog.Logger
	mux *http.ServeMux
}

// NewHandler returns the admin API handler.
func NewHandler(d HandlerDeps) *Handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	h := &Handler{d: d, log: d.Logger.With("component", "admin"), mux: http.NewServeMux()}
	h.routes()
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	h.mux.ServeHTTP(sw, r)
	h.log.Debug("admin request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
		"duration", time.Since(start), "remote", r.RemoteAddr)
}

// statusWriter remembers the status code for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// endpoint is one authenticated /v1/ operation; it returns the status and
// the value to encode as JSON (nil: no body).
type endpoint func(ctx context.Context, r *http.Request, body []byte) (int, any, error)

func (h *Handler) routes() {
	h.mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, api.Status{Status: "ok"})
	})
	h.mux.HandleFunc("GET /ready", h.ready)
	if h.d.Metrics != nil {
		h.mux.Handle("GET /metrics", h.d.Metrics)
	}
	h.route("/v1/backends", map[string]endpoint{
		http.MethodGet:  h.listBackends,
		http.MethodPost: h.addBackend,
	})
	h.route("/v1/backends/{name}", map[string]endpoint{http.MethodDelete: h.removeBackend})
	h.route("/v1/regions", map[string]endpoint{http.MethodGet: h.listRegions})
	h.route("/v1/regions/{name}/rename", map[string]endpoint{http.MethodPost: h.renameRegion})
	h.route("/v1/config/default-region", map[string]endpoint{http.MethodPut: h.setDefaultRegion})
	h.route("/v1/buckets", map[string]endpoint{http.MethodGet: h.listBuckets})
	h.route("/v1/cluster", map[string]endpoint{http.MethodGet: h.cluster})
	h.route("/v1/cluster/members", map[string]endpoint{http.MethodGet: h.members})
	h.route("/v1/cluster/join", map[string]endpoint{http.MethodPost: h.join})
	h.route("/v1/cluster/leave", map[string]endpoint{http.MethodPost: h.leave})
	h.route("/v1/cluster/remove", map[string]endpoint{http.MethodPost: h.remove})
	h.snapshotRoutes()
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, h.log, r, errf(http.StatusNotFound, api.CodeNotFound, "no admin API endpoint %s %s", r.Method, r.URL.Path))
	})
}

// route registers a path whose methods are authenticated endpoints; other
// methods get a JSON 405 rather than the mux's plain-text one.
func (h *Handler) route(pattern string, methods map[string]endpoint) {
	allowed := make([]string, 0, len(methods))
	for m, ep := range methods {
		allowed = append(allowed, m)
		h.mux.Handle(m+" "+pattern, h.authenticated(ep))
	}
	sort.Strings(allowed)
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, h.log, r, errf(http.StatusMethodNotAllowed, api.CodeMethodNotAllowed,
			"%s is not allowed on %s", r.Method, r.URL.Path))
	})
}

// authenticated verifies the SigV4 signature, requires the admin
// credential, and reads the whole (verified) body before the endpoint runs,
// so nothing is acted on before the payload hash was checked.
func (h *Handler) authenticated(ep endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := h.authenticate(r)
		if err != nil {
			writeError(w, h.log, r, err)
			return
		}
		status, out, err := ep(r.Context(), r, body)
		if err != nil {
			writeError(w, h.log, r, err)
			return
		}
		if out == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, out)
	})
}

func (h *Handler) authenticate(r *http.Request) ([]byte, error) {
	auth, err := h.d.Verifier.Verify(r)
	if err != nil {
		return nil, denied(err)
	}
	if auth.Anonymous {
		return nil, errf(http.StatusForbidden, api.CodeAccessDenied, "admin API requests must be signed with the admin credential")
	}
	defer auth.Body.Close()
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !payloadSigned(auth.PayloadHash) {
		return nil, errf(http.StatusForbidden, api.CodeAccessDenied,
			"admin API requests that change state must sign their payload (x-amz-content-sha256 %q)", auth.PayloadHash)
	}
	id, _, ok, err := h.d.Credentials.Lookup(r.Context(), auth.AccessKey)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", auth.AccessKey, err)
	}
	if !ok || !id.Admin {
		return nil, errf(http.StatusForbidden, api.CodeAccessDenied, "only the admin credential may use the admin API")
	}
	body, err := io.ReadAll(io.LimitReader(auth.Body, maxBody+1))
	if err != nil {
		return nil, denied(err)
	}
	if len(body) > maxBody {
		return nil, invalid("request body is larger than %d bytes", maxBody)
	}
	return body, nil
}

// payloadSigned reports whether the signature covers the body: an
// unsigned payload could be altered in transit without breaking it.
func payloadSigned(hash string) bool {
	switch hash {
	case sigv4.UnsignedPayload, sigv4.StreamingUnsignedTrailer:
		return false
	}
	return hash != ""
}

// denied maps a verification failure to a 403 (the admin API answers
// every authentication failure the same way), keeping the S3 code in the
// message so a client can tell a wrong secret from a skewed clock.
func denied(err error) error {
	var se *sigv4.Error
	if errors.As(err, &se) {
		return errf(http.StatusForbidden, api.CodeAccessDenied, "%s: %s", se.Code, se.Message)
	}
	return fmt.Errorf("verify signature: %w", err)
}

func decode(body []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("request body is not valid JSON for this endpoint: %v", err)
	}
	if dec.More() {
		return invalid("request body has data after the JSON document")
	}
	return nil
}

func (h *Handler) ready(w http.ResponseWriter, _ *http.Request) {
	if ok, reason := h.d.Service.Ready(); !ok {
		writeJSON(w, http.StatusServiceUnavailable, api.Status{Status: "unavailable", Reason: reason})
		return
	}
	writeJSON(w, http.StatusOK, api.Status{Status: "ok"})
}

func (h *Handler) listBackends(ctx context.Context, _ *http.Request, _ []byte) (int, any, error) {
	out, err := h.d.Service.Backends(ctx)
	return http.StatusOK, out, err
}

func (h *Handler) addBackend(ctx context.Context, _ *http.Request, body []byte) (int, any, error) {
	var req api.AddBackend
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	out, err := h.d.Service.AddBackend(ctx, req)
	return http.StatusCreated, out, err
}

func (h *Handler) removeBackend(ctx context.Context, r *http.Request, _ []byte) (int, any, error) {
	return http.StatusNoContent, nil, h.d.Service.RemoveBackend(ctx, r.PathValue("name"))
}

func (h *Handler) listRegions(ctx context.Context, _ *http.Request, _ []byte) (int, any, error) {
	out, err := h.d.Service.Regions(ctx)
	return http.StatusOK, out, err
}

func (h *Handler) renameRegion(ctx context.Context, r *http.Request, body []byte) (int, any, error) {
	var req api.RenameRegion
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	out, err := h.d.Service.RenameRegion(ctx, r.PathValue("name"), req.New)
	return http.StatusOK, out, err
}

func (h *Handler) setDefaultRegion(ctx context.Context, _ *http.Request, body []byte) (int, any, error) {
	var req api.DefaultRegion
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, h.d.Service.SetDefaultRegion(ctx, req.Region)
}

func (h *Handler) listBuckets(ctx context.Context, _ *http.Request, _ []byte) (int, any, error) {
	out, err := h.d.Service.Buckets(ctx)
	return http.StatusOK, out, err
}

func (h *Handler) cluster(ctx context.Context, _ *http.Request, _ []byte) (int, any, error) {
	out, err := h.d.Service.Cluster(ctx)
	return http.StatusOK, out, err
}

func (h *Handler) members(ctx context.Context, _ *http.Request, _ []byte) (int, any, error) {
	out, err := h.d.Service.Members(ctx)
	return http.StatusOK, out, err
}

func (h *Handler) join(ctx context.Context, _ *http.Request, body []byte) (int, any, error) {
	var req api.JoinRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	out, err := h.d.Service.Join(ctx, req.Addrs)
	return http.StatusOK, out, err
}

// leave answers only after the node has left: the server exits once the
// answer is written, so the client learns the outcome.
func (h *Handler) leave(ctx context.Context, _ *http.Request, body []byte) (int, any, error) {
	if len(strings.TrimSpace(string(body))) > 0 {
		var req struct{}
		if err := decode(body, &req); err != nil {
			return 0, nil, err
		}
	}
	out, err := h.d.Service.Leave(ctx)
	return http.StatusOK, out, err
}

func (h *Handler) remove(ctx context.Context, _ *http.Request, body []byte) (int, any, error) {
	var req api.RemoveRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, h.d.Service.Remove(ctx, req.NodeID)
}
