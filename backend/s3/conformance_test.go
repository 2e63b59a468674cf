package s3_test

import (
	"context"
	"testing"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/backend/backendtest"
	"github.com/stratagw/strata/backend/s3"
	"github.com/stratagw/strata/internal/testenv"
)

// open returns an s3 backend on srv.
func open(t *testing.T, srv testenv.S3Server) *s3.Backend {
	t.Helper()
	b, err := s3.New(context.Background(), backend.Config{
		Type: "s3", Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatalf("s3.New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	srv := testenv.Versitygw(t) // one server, a fresh bucket per test
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return open(t, srv)
	})
}
