package pool

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/stratagw/strata/backend"
)

// Options configure a Pool.
type Options struct {
	// FSLockdown, when set, only allows fs backends whose path lies under
	// one of FSAllowedRoots (symlinks resolved).
	FSLockdown     bool
	FSAllowedRoots []string
}

// Allow checks cfg against the fs lockdown; s3 configs always pass.
func (o Options) Allow(cfg backend.Config) error {
	if cfg.Type != "fs" || !o.FSLockdown {
		return nil
	}
	refuse := func(why string) error {
		return fmt.Errorf("fs backend path %q %s; allowed roots: [%s] (configure the allow-list, or start the server with --disable-fs-lockdown)",
			cfg.Path, why, strings.Join(o.FSAllowedRoots, ", "))
	}
	if cfg.Path == "" || !filepath.IsAbs(cfg.Path) {
		return refuse("is not an absolute path")
	}
	path, err := filepath.EvalSymlinks(filepath.Clean(cfg.Path))
	if err != nil {
		return refuse(fmt.Sprintf("cannot be resolved (%v)", errors.Unwrap(err)))
	}
	for _, root := range o.FSAllowedRoots {
		if !filepath.IsAbs(root) {
			continue
		}
		r, err := filepath.EvalSymlinks(filepath.Clean(root))
		if err != nil {
			continue // a root that does not exist allows nothing
		}
		if under(r, path) {
			return nil
		}
	}
	return refuse("is not under an allowed root")
}

// under reports whether path is root or inside it (both resolved).
func under(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)))
}
