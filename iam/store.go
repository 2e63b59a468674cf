// Package iam owns credentials: it resolves access keys to identities and
// clear secret keys for SigV4 verification, and generates new key pairs.
// Secrets are kept sealed in the FSM (internal/sealbox); iam is the only
// place that unseals credential secrets. Users, policies and their
// evaluation arrive here later; iam never writes to the FSM itself.
package iam

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/internal/sealbox"
)

// maxCached bounds the unsealed-secret cache. Credentials are few (one
// admin key now, a couple per user later); the bound only protects against
// unbounded growth, so on overflow the whole cache is dropped.
const maxCached = 4096

// SealLabel is the sealbox label that binds a credential's sealed secret to
// its access key, so a sealed secret cannot be moved to another key.
func SealLabel(accessKey string) string { return "credential:" + accessKey }

// Store resolves access keys against the replicated state. It satisfies
// gateway.Credentials. Safe for concurrent use.
type Store struct {
	state fsm.Reader
	box   *sealbox.Box

	mu    sync.Mutex
	cache map[string]cachedSecret
}

// cachedSecret remembers the clear secret for one sealed value, so that a
// request does not pay for AES-GCM; a changed sealed value (key rotated or
// replaced) misses the cache.
type cachedSecret struct {
	sealed []byte
	secret string
}

// NewStore returns a Store reading credentials from state and unsealing
// them with box.
func NewStore(state fsm.Reader, box *sealbox.Box) *Store {
	return &Store{state: state, box: box, cache: make(map[string]cachedSecret)}
}

// Lookup returns the identity and clear secret of accessKey; ok is false
// when the key is unknown. An error means the state could not be read or
// the secret could not be unsealed (wrong cluster key).
func (s *Store) Lookup(ctx context.Context, accessKey string) (Identity, string, bool, error) {
	if err := ctx.Err(); err != nil {
		return Identity{}, "", false, err
	}
	c, ok, err := s.state.Credential(accessKey)
	if err != nil {
		return Identity{}, "", false, fmt.Errorf("look up credential: %w", err)
	}
	if !ok {
		return Identity{}, "", false, nil
	}
	secret, err := s.secret(c)
	if err != nil {
		return Identity{}, "", false, err
	}
	id := Identity{AccessKey: c.AccessKey, Admin: c.Admin, User: c.User}
	return id, secret, true, nil
}

// Secret has the shape of sigv4.SecretLookup: it returns only the clear
// secret of accessKey.
func (s *Store) Secret(ctx context.Context, accessKey string) (string, bool, error) {
	_, secret, ok, err := s.Lookup(ctx, accessKey)
	return secret, ok, err
}

// secret unseals c's secret, using the cache when the sealed bytes match.
func (s *Store) secret(c fsm.Credential) (string, error) {
	s.mu.Lock()
	e, hit := s.cache[c.AccessKey]
	s.mu.Unlock()
	if hit && bytes.Equal(e.sealed, c.SecretSealed) {
		return e.secret, nil
	}
	pt, err := s.box.Open(SealLabel(c.AccessKey), c.SecretSealed)
	if err != nil {
		return "", fmt.Errorf("unseal secret of %s: %w", c.AccessKey, err)
	}
	secret := string(pt)
	s.mu.Lock()
	if len(s.cache) >= maxCached {
		s.cache = make(map[string]cachedSecret)
	}
	s.cache[c.AccessKey] = cachedSecret{sealed: bytes.Clone(c.SecretSealed), secret: secret}
	s.mu.Unlock()
	return secret, nil
}
