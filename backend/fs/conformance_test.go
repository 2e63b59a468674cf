package fs_test

import (
	"testing"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/backend/backendtest"
	"github.com/stratagw/strata/backend/fs"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		b, err := fs.New(t.TempDir())
		if err != nil {
			t.Fatalf("fs.New: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}
