package main

import (
	"testing"

	"github.com/stratagw/strata/config"
)

// TestAutoBootstrap: only the zero-config development node bootstraps
// without --bootstrap; a node meant for a cluster waits to be added.
func TestAutoBootstrap(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config.Config
		want bool
	}{
		{"no cluster settings", config.Config{}, true},
		{"join", config.Config{Join: []string{"10.0.0.1:9101"}}, false},
		{"advertise", config.Config{Advertise: "10.0.0.2"}, false},
		{"both", config.Config{Advertise: "10.0.0.2", Join: []string{"10.0.0.1:9101"}}, false},
	} {
		if got := autoBootstrap(tc.cfg); got != tc.want {
			t.Errorf("%s: autoBootstrap = %v, want %v", tc.name, got, tc.want)
		}
	}
}
