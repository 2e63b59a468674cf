package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/fsm"
)

// Error is an admin API failure with its HTTP status and wire code.
type Error struct {
	Status  int
	Code    string
	Message string
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *Error {
	return errf(http.StatusBadRequest, api.CodeInvalidRequest, format, args...)
}

// fsmStatus maps deterministic FSM failures to admin API answers.
var fsmStatus = map[string]struct {
	status int
	code   string
}{
	fsm.CodeBackendExists:  {http.StatusConflict, api.CodeConflict},
	fsm.CodeBackendInUse:   {http.StatusConflict, api.CodeConflict},
	fsm.CodeRegionExists:   {http.StatusConflict, api.CodeConflict},
	fsm.CodeBucketExists:   {http.StatusConflict, api.CodeConflict},
	fsm.CodeBucketNotEmpty: {http.StatusConflict, api.CodeConflict},
	fsm.CodeNoSuchBackend:  {http.StatusNotFound, api.CodeNotFound},
	fsm.CodeNoSuchRegion:   {http.StatusNotFound, api.CodeNotFound},
	fsm.CodeNoSuchBucket:   {http.StatusNotFound, api.CodeNotFound},
	fsm.CodeInvalid:        {http.StatusBadRequest, api.CodeInvalidRequest},
}

// asError turns any error into an *Error: admin errors pass through, FSM
// command failures keep their message, everything else (raft unavailable,
// bbolt failures) becomes a 503 or 500 without internals.
func asError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var fe *fsm.Error
	if errors.As(err, &fe) {
		if m, ok := fsmStatus[fe.Code]; ok {
			return &Error{Status: m.status, Code: m.code, Message: fe.Message}
		}
		return &Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: fe.Error()}
	}
	return nil
}

// writeError renders err as {"error":{...}}; unexpected errors are logged
// and answered with a generic message (they may carry internals).
func writeError(w http.ResponseWriter, log *slog.Logger, r *http.Request, err error) {
	e := asError(err)
	if e == nil {
		log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Status: http.StatusServiceUnavailable, Code: api.CodeNotReady,
			Message: "the cluster could not complete the request; retry later"}
	}
	writeJSON(w, e.Status, api.ErrorBody{Error: api.ErrorDetail{Code: e.Code, Message: e.Message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing left to tell it
}
