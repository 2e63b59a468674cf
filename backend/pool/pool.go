// Package pool opens backends from their cluster records and caches the
// open clients, one per backend id. It owns two rules that apply wherever
// a backend is opened: the fs lockdown (only directories under an
// allow-list may become fs backends) and unsealing the s3 secret with the
// cluster key. Secrets are never logged or put into errors.
package pool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/backend/fs"
	"github.com/stratagw/strata/backend/s3"
	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/internal/sealbox"
)

// SecretLabel is the sealbox label of a backend's sealed secret key.
func SecretLabel(backendID string) string { return "backend-secret:" + backendID }

// Open opens a backend from cfg, picking the implementation by cfg.Type.
// It applies no lockdown; use (*Pool).Open or Options.Allow for that.
func Open(ctx context.Context, cfg backend.Config) (backend.Backend, error) {
	switch cfg.Type {
	case "fs":
		b, err := fs.New(cfg.Path)
		if err != nil {
			return nil, err
		}
		return b, nil
	case "s3":
		b, err := s3.New(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return b, nil
	default:
		return nil, fmt.Errorf("unknown backend type %q (want fs or s3)", cfg.Type)
	}
}

// Pool caches open backends by record id. Safe for concurrent use.
type Pool struct {
	state fsm.Reader
	box   *sealbox.Box
	opts  Options

	mu      sync.Mutex
	entries map[string]*entry
	closed  bool
}

// entry is one backend being opened or open. done is closed once b/err
// are set; every Get for the same record waits on it, so a backend is
// opened once however many requests arrive together.
type entry struct {
	rec  fsm.Backend
	done chan struct{}
	b    backend.Backend
	err  error
}

// New returns a pool reading backend records from state and unsealing
// secrets with box.
func New(state fsm.Reader, box *sealbox.Box, opts Options) *Pool {
	return &Pool{state: state, box: box, opts: opts, entries: map[string]*entry{}}
}

// Open applies the fs lockdown to cfg and opens it (for verifying a
// backend before it is added).
func (p *Pool) Open(ctx context.Context, cfg backend.Config) (backend.Backend, error) {
	if err := p.opts.Allow(cfg); err != nil {
		return nil, err
	}
	return Open(ctx, cfg)
}

// Get returns the open backend of record backendID, opening it on first
// use and reopening it when the record changed. A backend that failed to
// open is retried on the next Get.
func (p *Pool) Get(ctx context.Context, backendID string) (backend.Backend, error) {
	rec, ok, err := p.state.Backend(backendID)
	if err != nil {
		return nil, fmt.Errorf("backend %s: read record: %w", backendID, err)
	}
	if !ok {
		p.forget(backendID)
		return nil, fmt.Errorf("backend %s: %w", backendID, backend.ErrNotFound)
	}
	e, opener, err := p.entryFor(rec)
	if err != nil {
		return nil, err
	}
	if opener {
		e.b, e.err = p.open(ctx, rec)
		close(e.done)
		if e.err != nil {
			p.dropIfCurrent(backendID, e)
		}
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("backend %s: %w", backendID, ctx.Err())
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.b, nil
}

// entryFor returns the entry for rec, creating it (opener true: the
// caller must open it) when there is none or the record changed. A
// replaced entry's backend is closed once it finished opening.
func (p *Pool) entryFor(rec fsm.Backend) (e *entry, opener bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, false, errors.New("backend pool is closed")
	}
	if cur := p.entries[rec.ID]; cur != nil {
		if sameRecord(cur.rec, rec) {
			return cur, false, nil
		}
		go closeWhenOpened(cur)
	}
	e = &entry{rec: rec, done: make(chan struct{})}
	p.entries[rec.ID] = e
	return e, true, nil
}

func (p *Pool) dropIfCurrent(id string, e *entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.entries[id] == e {
		delete(p.entries, id)
	}
}

// forget drops and closes the entry of a backend whose record is gone.
func (p *Pool) forget(id string) {
	p.mu.Lock()
	e := p.entries[id]
	delete(p.entries, id)
	p.mu.Unlock()
	if e != nil {
		go closeWhenOpened(e)
	}
}

func closeWhenOpened(e *entry) {
	<-e.done
	if e.b != nil {
		_ = e.b.Close()
	}
}

// sameRecord reports whether two records open the same backend.
func sameRecord(a, b fsm.Backend) bool {
	return a.Type == b.Type && a.Path == b.Path && a.Endpoint == b.Endpoint &&
		a.Region == b.Region && a.PathStyle == b.PathStyle && a.AccessKey == b.AccessKey &&
		bytes.Equal(a.SecretSealed, b.SecretSealed)
}

// open turns a record into a config (lockdown, unsealed secret) and opens it.
func (p *Pool) open(ctx context.Context, rec fsm.Backend) (backend.Backend, error) {
	cfg, err := p.Config(rec)
	if err != nil {
		return nil, err
	}
	b, err := p.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("backend %s (%s): %w", rec.Name, rec.ID, err)
	}
	return b, nil
}

// Config converts a record into an open-able config, unsealing the s3
// secret key.
func (p *Pool) Config(rec fsm.Backend) (backend.Config, error) {
	cfg := backend.Config{
		Type: rec.Type, Path: rec.Path, Endpoint: rec.Endpoint, Region: rec.Region,
		PathStyle: rec.PathStyle, AccessKey: rec.AccessKey,
	}
	if len(rec.SecretSealed) > 0 {
		if p.box == nil {
			return backend.Config{}, fmt.Errorf("backend %s (%s): secret is sealed but no cluster key is configured", rec.Name, rec.ID)
		}
		secret, err := p.box.Open(SecretLabel(rec.ID), rec.SecretSealed)
		if err != nil {
			return backend.Config{}, fmt.Errorf("backend %s (%s): %w", rec.Name, rec.ID, err)
		}
		cfg.SecretKey = string(secret)
	}
	return cfg, nil
}

// Close closes every open backend; Get fails afterwards.
func (p *Pool) Close() {
	p.mu.Lock()
	entries := p.entries
	p.entries = map[string]*entry{}
	p.closed = true
	p.mu.Unlock()
	for _, e := range entries {
		closeWhenOpened(e)
	}
}
