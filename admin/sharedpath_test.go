package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/cluster"
)

func TestSharedPathError(t *testing.T) {
	notShared := &NotSharedError{Path: "/srv/shared", Problems: []string{
		"node n2 cannot read the marker (no such file)", "node n3 at 10.0.0.3:9100 is unreachable (connection refused)",
	}}
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		msg    []string
	}{
		{name: "shared"},
		{name: "not shared", err: fmt.Errorf("check: %w", notShared), status: http.StatusConflict, code: api.CodeConflict,
			msg: []string{"fs backend path /srv/shared is not shared: node n2 cannot read the marker (no such file); " +
				"node n3 at 10.0.0.3:9100 is unreachable (connection refused): mount the same directory on every node"}},
		{name: "no leader", err: fmt.Errorf("read the raft configuration: %w", cluster.ErrNoLeader),
			status: http.StatusServiceUnavailable, code: api.CodeNotReady, msg: []string{"/srv/shared", "retry later"}},
		{name: "local failure", err: errors.New("write marker: read-only file system"),
			status: http.StatusBadGateway, code: api.CodeBackendUnreachable, msg: []string{"/srv/shared", "read-only file system"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sharedPathError("/srv/shared", tt.err)
			if tt.err == nil {
				if got != nil {
					t.Fatalf("sharedPathError(nil) = %v", got)
				}
				return
			}
			var ae *Error
			if !errors.As(got, &ae) {
				t.Fatalf("sharedPathError = %v (%T), want *Error", got, got)
			}
			if ae.Status != tt.status || ae.Code != tt.code {
				t.Errorf("answer %d %s, want %d %s", ae.Status, ae.Code, tt.status, tt.code)
			}
			for _, m := range tt.msg {
				if !strings.Contains(ae.Message, m) {
					t.Errorf("message %q does not contain %q", ae.Message, m)
				}
			}
		})
	}
}
