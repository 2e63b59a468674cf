package fsm

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"

	"github.com/stratagw/strata/internal/safemsgpack"
)

// applyFunc applies one decoded command body inside the batch's write
// transaction. It returns the replaced object record (if any) and either a
// deterministic *Error — in which case it must not have written anything —
// or another error, which is a local failure and aborts the transaction.
type applyFunc func(tx *bolt.Tx, body []byte) (previous *Object, err error)

// typed adapts a function on a decoded command to an applyFunc; a body that
// does not decode is a deterministic CodeInvalid.
func typed[T any](fn func(tx *bolt.Tx, cmd *T) (*Object, error)) applyFunc {
	return func(tx *bolt.Tx, body []byte) (*Object, error) {
		var cmd T
		if err := safemsgpack.Unmarshal(body, &cmd); err != nil {
			return nil, invalidf("malformed %T body: %v", cmd, err)
		}
		return fn(tx, &cmd)
	}
}

// register adds t's apply function to the dispatch table. Registering a
// type twice is a programming error caught at start-up.
func (f *FSM) register(t CommandType, fn applyFunc) {
	if _, dup := f.handlers[t]; dup {
		panic(fmt.Sprintf("fsm: apply function for %s registered twice", t))
	}
	f.handlers[t] = fn
}

// registerAll fills the dispatch table: one apply function per command
// type.
func (f *FSM) registerAll() {
	f.handlers = make(map[CommandType]applyFunc)
	f.register(CmdInitCluster, typed(applyInitCluster))
	f.register(CmdSetDefaultRegion, typed(applySetDefaultRegion))
	f.register(CmdPutBackend, typed(applyPutBackend))
	f.register(CmdRemoveBackend, typed(applyRemoveBackend))
	f.register(CmdRenameRegion, typed(applyRenameRegion))
	f.register(CmdCreateBucket, typed(applyCreateBucket))
	f.register(CmdDeleteBucket, typed(applyDeleteBucket))
	f.register(CmdPutObject, typed(applyPutObject))
	f.register(CmdDeleteObject, typed(applyDeleteObject))
	f.register(CmdCreateUpload, typed(applyCreateUpload))
	f.register(CmdPutPart, typed(applyPutPart))
	f.register(CmdCompleteUpload, typed(applyCompleteUpload))
	f.register(CmdAbortUpload, typed(applyAbortUpload))
}

// Apply implements raft.FSM. It returns a Result for a LogCommand entry,
// nil for other entry types, and an error wrapping ErrFatal (not a Result)
// when the local state file failed; see Fatal.
func (f *FSM) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch implements raft.BatchingFSM: every command of the batch is
// applied in one bbolt transaction that also stores the last applied index,
// so a batch costs one fsync. A command that fails deterministically wrote
// nothing and does not affect its neighbours. Entries at or below the
// stored applied index were applied before a restart and are skipped.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	if err := f.Fatal(); err != nil {
		fillCommands(out, logs, err)
		return out
	}
	applied := f.applied.Load()
	pending := false
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		if l.Index <= applied {
			out[i] = Result{Index: l.Index}
			continue
		}
		pending = true
	}
	if !pending {
		return out
	}

	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		fillCommands(out, logs, fmt.Errorf("%w: %w", ErrFatal, ErrClosed))
		return out
	}
	last, err := f.applyInTx(f.db, logs, applied, out)
	if err != nil {
		f.setFatal(err)
		fillCommands(out, logs, f.Fatal())
		return out
	}
	f.applied.Store(last)
	return out
}

// applyInTx applies the commands above applied in one write transaction,
// filling out, and returns the new applied index.
func (f *FSM) applyInTx(db *bolt.DB, logs []*raft.Log, applied uint64, out []any) (uint64, error) {
	last := applied
	err := db.Update(func(tx *bolt.Tx) error {
		for i, l := range logs {
			if l.Type != raft.LogCommand || l.Index <= applied {
				continue
			}
			res, err := f.applyOne(tx, l)
			if err != nil {
				return fmt.Errorf("apply entry %d: %w", l.Index, err)
			}
			out[i] = res
			last = l.Index
		}
		return writeApplied(tx, last)
	})
	return last, err
}

// applyOne dispatches one command. Only local failures are returned as an
// error; deterministic ones are in the Result.
func (f *FSM) applyOne(tx *bolt.Tx, l *raft.Log) (Result, error) {
	res := Result{Index: l.Index}
	if len(l.Data) == 0 {
		res.Err = invalidf("empty log entry")
		return res, nil
	}
	t := CommandType(l.Data[0])
	fn, ok := f.handlers[t]
	if !ok {
		res.Err = &Error{Code: CodeUnknownCommand, Message: fmt.Sprintf("unknown command type %d", uint8(t))}
		return res, nil
	}
	prev, err := fn(tx, l.Data[1:])
	var ferr *Error
	switch {
	case errors.As(err, &ferr):
		res.Err = ferr
	case err != nil:
		return res, fmt.Errorf("%s: %w", t, err)
	default:
		res.Previous = prev
	}
	return res, nil
}

// fillCommands sets every command entry's response to err.
func fillCommands(out []any, logs []*raft.Log, err error) {
	for i, l := range logs {
		if l.Type == raft.LogCommand {
			out[i] = err
		}
	}
}
