// Package replication owns strata's background workers over the backends:
// work that keeps the backing storage consistent with the replicated state
// without a client waiting for it. The workers so far are the upload reaper,
// which aborts multipart uploads abandoned for longer than a configured
// time; the orphan cleaner deletes backing objects no record points at.
// Replica placement, async replication, repair, import and drain
// workers arrive here later. Workers run on the raft leader only, read the
// state through fsm.Reader and change it only through Cluster.Apply; they
// never write the FSM directly.
package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/fsm"
)

// Cluster is what workers need from the raft node (*cluster.Node has it).
type Cluster interface {
	// Apply submits a command and returns once the local FSM applied it.
	Apply(ctx context.Context, t fsm.CommandType, body any) (fsm.Result, error)
	// IsLeader reports whether this node is the raft leader right now.
	IsLeader() bool
}

// Backends opens backends by their record ID (*pool.Pool has it).
type Backends interface {
	Get(ctx context.Context, backendID string) (backend.Backend, error)
}

// Defaults for UploadReaperOptions.
const (
	// DefaultUploadExpiry is how long an upload may stay incomplete before
	// the reaper aborts it. S3 itself keeps uploads forever unless a
	// lifecycle rule says otherwise; a day is long enough for any upload
	// that is still being worked on and short enough that abandoned parts
	// do not pile up on the backends.
	DefaultUploadExpiry = 24 * time.Hour
	// DefaultReapInterval is how often the reaper looks for expired uploads.
	DefaultReapInterval = 10 * time.Minute
	// reapBatch bounds how many uploads one pass collects, so a huge
	// backlog does not hold one bbolt read transaction (and memory) for
	// long; the next pass picks up the rest.
	reapBatch = 1000
	// leaderPoll is how often Run checks whether this node became leader.
	leaderPoll = time.Second
)

// UploadReaperOptions tunes the upload reaper. Zero values mean the defaults.
type UploadReaperOptions struct {
	// Expiry is how long an upload may go without activity (initiation or
	// a stored part) before it is aborted.
	Expiry time.Duration
	// Interval is the time between two passes.
	Interval time.Duration
	// Now returns the current time (tests pass a fixed clock).
	Now func() time.Time
	// Batch bounds how many idle uploads one pass collects (default 1000).
	Batch int
}

// UploadReaper aborts multipart uploads abandoned for longer than Expiry
// (no part stored and not initiated within that time): first the native
// upload on the backend (discarding its staged parts), then the upload
// record through raft.
type UploadReaper struct {
	state    fsm.Reader
	cluster  Cluster
	backends Backends
	opts     UploadReaperOptions
	log      *slog.Logger
}

// NewUploadReaper returns a reaper; call Run to start it.
func NewUploadReaper(state fsm.Reader, cluster Cluster, backends Backends, opts UploadReaperOptions, logger *slog.Logger) *UploadReaper {
	if opts.Expiry <= 0 {
		opts.Expiry = DefaultUploadExpiry
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultReapInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Batch <= 0 {
		opts.Batch = reapBatch
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &UploadReaper{
		state:    state,
		cluster:  cluster,
		backends: backends,
		opts:     opts,
		log:      logger.With("worker", "upload-reaper"),
	}
}

// Run sweeps until ctx is done: as soon as this node is (or becomes) the
// leader, then every Interval while it stays leader (see runOnLeader).
func (r *UploadReaper) Run(ctx context.Context) {
	runOnLeader(ctx, r.cluster, r.opts.Interval, r.sweepAndLog)
}

// sweepAndLog runs one pass and logs its outcome.
func (r *UploadReaper) sweepAndLog(ctx context.Context) {
	n, err := r.Sweep(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		r.log.Warn("sweep failed", "aborted", n, "err", err)
	case n > 0:
		r.log.Info("aborted expired uploads", "count", n)
	}
}

// Sweep runs one pass: it aborts up to one batch of expired uploads and
// returns how many it aborted. It keeps going past a failing upload (a
// backend that is down must not block the others) and returns the first
// error it met.
func (r *UploadReaper) Sweep(ctx context.Context) (int, error) {
	expired, err := r.expired()
	if err != nil {
		return 0, err
	}
	cutoff := r.opts.Now().Add(-r.opts.Expiry)
	var firstErr error
	n := 0
	for _, u := range expired {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		idle, err := r.idleSince(u, cutoff)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if !idle {
			continue
		}
		if err := r.abort(ctx, u); err != nil {
			r.log.Warn("abort expired upload", "upload", u.ID, "bucket", u.Bucket, "key", u.Key, "err", err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		n++
	}
	return n, firstErr
}

// expired collects the uploads with no activity (initiation or stored
// part) since Expiry ago; Sweep re-checks the parts themselves, which also
// covers records written before Upload.LastPart existed. It does no I/O inside the
// walk: the walk holds a bbolt read transaction.
func (r *UploadReaper) expired() ([]fsm.Upload, error) {
	cutoff := r.opts.Now().Add(-r.opts.Expiry)
	var out []fsm.Upload
	err := r.state.AllUploads(func(u fsm.Upload) bool {
		// Filter on the last activity during the walk, so the batch cap
		// counts only idle uploads: many old but busy uploads must not
		// hide the abandoned ones behind them.
		if u.Initiated.Before(cutoff) && u.LastPart.Before(cutoff) {
			out = append(out, u)
		}
		return len(out) < r.opts.Batch
	})
	if err != nil {
		return nil, fmt.Errorf("walk uploads: %w", err)
	}
	return out, nil
}

// idleSince reports whether no part of u was stored after cutoff: an
// upload initiated long ago that is still receiving parts (a multi-TiB
// upload takes more than a day) is in use, not abandoned.
func (r *UploadReaper) idleSince(u fsm.Upload, cutoff time.Time) (bool, error) {
	parts, _, err := r.state.Parts(u.ID, 0, 0)
	if err != nil {
		return false, fmt.Errorf("read parts of upload %s: %w", u.ID, err)
	}
	for _, p := range parts {
		if !p.ModTime.Before(cutoff) {
			return false, nil
		}
	}
	return true, nil
}

// abort discards one upload on its backend, then drops its record. The
// backend goes first so that a failure leaves the record (and the next pass
// retries) rather than leaving parts nobody knows about.
func (r *UploadReaper) abort(ctx context.Context, u fsm.Upload) error {
	be, err := r.backends.Get(ctx, u.Backing.BackendID)
	if err != nil {
		return fmt.Errorf("open backend %s: %w", u.Backing.BackendID, err)
	}
	err = be.AbortMultipart(ctx, u.Backing.Name, u.BackingKey, u.BackendUploadID)
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		return fmt.Errorf("abort upload %s on backend: %w", u.ID, err)
	}
	_, err = r.cluster.Apply(ctx, fsm.CmdAbortUpload, fsm.AbortUpload{UploadID: u.ID})
	if err != nil && !errors.Is(err, fsm.ErrCode(fsm.CodeNoSuchUpload)) {
		return fmt.Errorf("drop upload record %s: %w", u.ID, err)
	}
	return nil
}
