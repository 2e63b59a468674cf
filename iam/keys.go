package iam

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/internal/sealbox"
)

const (
	// AccessKeyLen is the length of generated access keys (as AWS).
	AccessKeyLen = 20
	// SecretKeyLen is the length of generated secret keys (as AWS).
	SecretKeyLen = 40
	// accessKeyPrefix marks strata-generated keys, like AWS's "AKIA".
	accessKeyPrefix   = "SK"
	accessKeyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

// GenerateAccessKey returns a new access key: "SK" followed by 18
// characters of [A-Z0-9].
func GenerateAccessKey() (string, error) {
	const n = AccessKeyLen - len(accessKeyPrefix)
	// Rejection sampling keeps the alphabet uniform: 252 is the largest
	// multiple of 36 that fits in a byte.
	var sb strings.Builder
	sb.WriteString(accessKeyPrefix)
	buf := make([]byte, 2*n)
	for sb.Len() < AccessKeyLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("generate access key: %w", err)
		}
		for _, b := range buf {
			if b >= 252 || sb.Len() == AccessKeyLen {
				continue
			}
			sb.WriteByte(accessKeyAlphabet[int(b)%len(accessKeyAlphabet)])
		}
	}
	return sb.String(), nil
}

// GenerateSecretKey returns a new 40-character secret key drawn from the
// URL-safe base64 alphabet (30 random bytes, 240 bits).
func GenerateSecretKey() (string, error) {
	b := make([]byte, SecretKeyLen*3/4)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ValidateKeyPair checks a key pair given by an operator (for example the
// admin credential from the environment) before it is stored.
func ValidateKeyPair(accessKey, secretKey string) error {
	switch {
	case len(accessKey) < 3 || len(accessKey) > 128:
		return fmt.Errorf("access key must be 3 to 128 characters, got %d", len(accessKey))
	case strings.ContainsAny(accessKey, " \t\r\n/=,"):
		return fmt.Errorf("access key must not contain white space, '/', '=' or ','")
	case len(secretKey) < 8 || len(secretKey) > 128:
		return fmt.Errorf("secret key must be 8 to 128 characters, got %d", len(secretKey))
	case strings.ContainsAny(secretKey, " \t\r\n"):
		return fmt.Errorf("secret key must not contain white space")
	}
	return nil
}

// NewCredential seals secretKey and returns the FSM record for the pair.
func NewCredential(box *sealbox.Box, accessKey, secretKey string, admin bool, user string, now time.Time) (fsm.Credential, error) {
	if err := ValidateKeyPair(accessKey, secretKey); err != nil {
		return fsm.Credential{}, err
	}
	sealed, err := box.Seal(SealLabel(accessKey), []byte(secretKey))
	if err != nil {
		return fsm.Credential{}, fmt.Errorf("seal secret of %s: %w", accessKey, err)
	}
	return fsm.Credential{
		AccessKey:    accessKey,
		SecretSealed: sealed,
		Admin:        admin,
		User:         user,
		CreatedAt:    now.UTC(),
	}, nil
}
