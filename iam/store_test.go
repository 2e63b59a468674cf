package iam

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/stratagw/strata/fsm"
	"github.com/stratagw/strata/internal/sealbox"
)

func newBox(t *testing.T) *sealbox.Box {
	t.Helper()
	k, err := sealbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sealbox.ParseKey(k)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sealbox.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newState returns a real FSM holding one admin credential, applied the
// way raft applies it (no raft needed for the state itself).
func newState(t *testing.T, box *sealbox.Box, ak, sk string) *fsm.FSM {
	t.Helper()
	f, err := fsm.Open(filepath.Join(t.TempDir(), "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cred, err := NewCredential(box, ak, sk, true, "admin", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data, err := fsm.Encode(fsm.CmdInitCluster, fsm.InitCluster{Config: fsm.ClusterConfig{ClusterID: "c1"}, Admin: cred})
	if err != nil {
		t.Fatal(err)
	}
	res, ok := f.Apply(&raft.Log{Index: 1, Term: 1, Type: raft.LogCommand, Data: data}).(fsm.Result)
	if !ok || res.Err != nil {
		t.Fatalf("apply InitCluster: %+v", res)
	}
	return f
}

func TestLookup(t *testing.T) {
	box := newBox(t)
	state := newState(t, box, "SKADMIN0000000000001", "admin-secret-0123456789")
	s := NewStore(state, box)
	ctx := context.Background()

	for i := 0; i < 2; i++ { // the second round is served from the cache
		id, secret, ok, err := s.Lookup(ctx, "SKADMIN0000000000001")
		if err != nil || !ok || secret != "admin-secret-0123456789" || !id.Admin || id.AccessKey != "SKADMIN0000000000001" || id.User != "admin" {
			t.Fatalf("round %d: %+v %q %v %v", i, id, secret, ok, err)
		}
	}
	if _, _, ok, err := s.Lookup(ctx, "SKUNKNOWN"); ok || err != nil {
		t.Fatalf("unknown key: ok=%v err=%v", ok, err)
	}
	secret, ok, err := s.Secret(ctx, "SKADMIN0000000000001")
	if err != nil || !ok || secret != "admin-secret-0123456789" {
		t.Fatalf("Secret: %q %v %v", secret, ok, err)
	}

	// Another cluster key cannot open the secret: an error, not a miss.
	other := NewStore(state, newBox(t))
	if _, _, _, err := other.Lookup(ctx, "SKADMIN0000000000001"); err == nil || !strings.Contains(err.Error(), "cluster key") {
		t.Fatalf("wrong key: err = %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, _, err := s.Lookup(cctx, "SKADMIN0000000000001"); err == nil {
		t.Fatal("cancelled context: no error")
	}
}

func TestGenerate(t *testing.T) {
	akRe := regexp.MustCompile(`^SK[A-Z0-9]{18}$`)
	skRe := regexp.MustCompile(`^[A-Za-z0-9_-]{40}$`)
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		ak, err := GenerateAccessKey()
		if err != nil || !akRe.MatchString(ak) {
			t.Fatalf("access key %q %v", ak, err)
		}
		sk, err := GenerateSecretKey()
		if err != nil || !skRe.MatchString(sk) {
			t.Fatalf("secret key %q %v", sk, err)
		}
		if seen[ak] || seen[sk] {
			t.Fatal("duplicate generated key")
		}
		seen[ak], seen[sk] = true, true
		if err := ValidateKeyPair(ak, sk); err != nil {
			t.Fatal(err)
		}
	}
}

func TestValidateKeyPair(t *testing.T) {
	tests := []struct {
		ak, sk, wantErr string
	}{
		{"AKIAEXAMPLE", "secret-secret", ""},
		{"AK", "secret-secret", "access key must be 3 to 128"},
		{"AK IA", "secret-secret", "white space"},
		{"AKIA/X", "secret-secret", "'/'"},
		{"AKIAEXAMPLE", "short", "secret key must be 8 to 128"},
		{"AKIAEXAMPLE", "secret secret", "secret key must not contain white space"},
	}
	for _, tt := range tests {
		err := ValidateKeyPair(tt.ak, tt.sk)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ValidateKeyPair(%q, %q) = %v, want %q", tt.ak, tt.sk, err, tt.wantErr)
		}
	}
	if _, err := NewCredential(newBox(t), "AK", "x", true, "", time.Now()); err == nil {
		t.Fatal("NewCredential accepted a bad pair")
	}
}
