// Package sealbox seals small secrets (backend secret keys, user secret
// keys, KMS master keys) with the cluster key, so that the raft log,
// snapshots and the FSM's bbolt file never hold them in clear.
package sealbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the cluster key length in bytes.
const KeySize = 32

// version prefixes every sealed value so the scheme can change later.
const version byte = 1

// Box seals and opens secrets with one cluster key.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte cluster key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("cluster key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	return &Box{aead: aead}, nil
}

// ParseKey decodes a base64 cluster key (as written by `openssl rand
// -base64 32`), ignoring surrounding white space.
func ParseKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("cluster key is not base64: %w", err)
	}
	if len(k) != KeySize {
		return nil, fmt.Errorf("cluster key must decode to %d bytes, got %d", KeySize, len(k))
	}
	return k, nil
}

// GenerateKey returns a new random cluster key, base64-encoded.
func GenerateKey() (string, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("generate cluster key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// Seal encrypts plaintext; label binds the ciphertext to its purpose (for
// example "backend-secret:<id>") so a sealed value cannot be moved to
// another field.
func (b *Box) Seal(label string, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out := make([]byte, 0, 1+len(nonce)+len(plaintext)+b.aead.Overhead())
	out = append(out, version)
	out = append(out, nonce...)
	return b.aead.Seal(out, nonce, plaintext, []byte(label)), nil
}

// ErrOpen means a sealed value could not be opened: wrong cluster key,
// wrong label or corrupted data.
var ErrOpen = errors.New("cannot open sealed secret (wrong cluster key?)")

// Open decrypts a value produced by Seal with the same label.
func (b *Box) Open(label string, sealed []byte) ([]byte, error) {
	ns := b.aead.NonceSize()
	if len(sealed) < 1+ns+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	pt, err := b.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(label))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
