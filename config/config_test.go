package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestParse(t *testing.T) {
	vars := env(map[string]string{"HOST": "10.0.0.1", "DIR": "/srv/strata", "EMPTY": ""})
	tests := []struct {
		name    string
		text    string
		want    Config
		wantErr string
	}{
		{
			name: "expansion",
			text: "node_id: n1\ns3_addr: ${HOST}:9000\ndata_dir: $DIR/data\nadvertise: \"${EMPTY}\"\n",
			want: Config{NodeID: "n1", S3Addr: "10.0.0.1:9000", DataDir: "/srv/strata/data"},
		},
		{
			name: "dollar escape",
			text: "node_id: a$$b\n",
			want: Config{NodeID: "a$b"},
		},
		{
			name: "commented unset variable is ignored",
			text: "# data_dir: ${NOPE}\nnode_id: n1\n",
			want: Config{NodeID: "n1"},
		},
		{
			name:    "unset variable",
			text:    "node_id: n1\ndata_dir: ${NOPE}/x\n",
			wantErr: "line 2: environment variable NOPE is not set",
		},
		{
			name:    "unknown field names its line",
			text:    "node_id: n1\n\nbogus_field: 3\n",
			wantErr: `line 3: field bogus_field is unknown`,
		},
		{
			name: "lists, durations, numbers, bools",
			text: "domains: [s3.example.com]\nfs_allowed_roots:\n  - /srv\njoin: [\"a:9101\", \"b:9101\"]\n" +
				"upload_expiry: 36h\norphan_grace: 3h\norphan_interval: 30m\nsnapshot_interval: 2m\nsnapshot_threshold: 8192\ntrailing_logs: 100\nfs_lockdown: false\nbootstrap: true\n",
			want: Config{
				Domains: []string{"s3.example.com"}, FSAllowedRoots: []string{"/srv"}, Join: []string{"a:9101", "b:9101"},
				UploadExpiry: 36 * time.Hour, OrphanGrace: 3 * time.Hour, OrphanInterval: 30 * time.Minute, SnapshotInterval: 2 * time.Minute, SnapshotThreshold: 8192, TrailingLogs: 100,
				FSLockdown: ptr(false), Bootstrap: true,
			},
		},
		{
			name:    "bad duration",
			text:    "upload_expiry: soon\n",
			wantErr: "line 1",
		},
		{
			name: "empty file",
			text: "",
			want: Config{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.text), vars)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestLoadNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "strata.yaml")
	if err := os.WriteFile(path, []byte("nodeid: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 1: field nodeid is unknown") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("missing file: no error")
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	file, err := Parse([]byte("node_id: from-file\ndata_dir: /file\ns3_addr: :7000\ndomains: [a.example]\nfs_allowed_roots: [/a]\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		flags Overrides
		check func(t *testing.T, c Config)
	}{
		{"no flags keep file", Overrides{}, func(t *testing.T, c Config) {
			if c.NodeID != "from-file" || c.DataDir != "/file" || c.S3Addr != ":7000" || !c.Lockdown() {
				t.Fatalf("%+v", c)
			}
		}},
		{"scalar flags win", Overrides{NodeID: ptr("flag"), S3Addr: ptr(":9999")}, func(t *testing.T, c Config) {
			if c.NodeID != "flag" || c.S3Addr != ":9999" || c.DataDir != "/file" {
				t.Fatalf("%+v", c)
			}
		}},
		{"empty string flag still overrides", Overrides{Advertise: ptr("")}, func(t *testing.T, c Config) {
			if c.Advertise != "" {
				t.Fatalf("%+v", c)
			}
		}},
		{"lists replace", Overrides{Domains: []string{"b.example"}, FSAllow: []string{"/b", "/c"}}, func(t *testing.T, c Config) {
			if !reflect.DeepEqual(c.Domains, []string{"b.example"}) || !reflect.DeepEqual(c.FSAllowedRoots, []string{"/b", "/c"}) {
				t.Fatalf("%+v", c)
			}
		}},
		{"lockdown and dev backend off", Overrides{DisableFSLockdown: true, Bootstrap: true, NoDevBackend: true}, func(t *testing.T, c Config) {
			if c.Lockdown() || !c.Bootstrap || c.WantDevBackend() {
				t.Fatalf("%+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := file
			c.Apply(tt.flags)
			c.ApplyDefaults("host1")
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestDefaults(t *testing.T) {
	var c Config
	c.ApplyDefaults("myhost")
	want := Config{
		NodeID: "myhost", DataDir: "strata-data", S3Addr: ":9000", AdminAddr: ":9001", RaftAddr: ":9100",
		GossipAddr: ":9101", Consistency: "strong", UploadExpiry: 24 * time.Hour, LogLevel: "info",
		OrphanGrace: time.Hour, OrphanInterval: time.Hour,
		LogFormat: "text", FSLockdown: ptr(true), DevBackend: ptr(true),
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantErr string
	}{
		{"bad addr", func(c *Config) { c.S3Addr = "9000" }, `s3_addr: "9000" is not HOST:PORT`},
		{"relative root", func(c *Config) { c.FSAllowedRoots = []string{"srv"} }, `fs_allowed_roots: "srv" is not an absolute path`},
		{"consistency", func(c *Config) { c.Consistency = "eventual" }, `consistency: "eventual" must be strong or local`},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, `log_level: unknown log level "loud"`},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, `log_format: "xml" must be text or json`},
		{"node id", func(c *Config) { c.NodeID = "a b" }, `node_id: "a b" must not contain`},
		{"join", func(c *Config) { c.Join = []string{"nohost"} }, `join: "nohost" is not HOST:PORT`},
		{"orphan grace", func(c *Config) { c.OrphanGrace = -time.Second }, "orphan_grace: must not be negative"},
		{"orphan interval", func(c *Config) { c.OrphanInterval = -time.Second }, "orphan_interval: must not be negative"},
		{"several at once", func(c *Config) { c.S3Addr = "x"; c.AdminAddr = "y" }, "admin_addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			c.ApplyDefaults("h")
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewLogger(t *testing.T) {
	var sb strings.Builder
	c := Config{LogLevel: "warn", LogFormat: "json"}
	l, err := c.NewLogger(&sb)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "k", "v")
	if strings.Contains(sb.String(), "hidden") || !strings.Contains(sb.String(), `"msg":"shown"`) {
		t.Fatalf("log output %q", sb.String())
	}
}

func TestResolveClusterKey(t *testing.T) {
	const good = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	t.Run("env wins", func(t *testing.T) {
		c := Config{DataDir: t.TempDir(), ClusterKeyFile: "/does/not/exist"}
		k, err := c.ResolveClusterKey(good)
		if err != nil || k.Generated || len(k.Key) != 32 || k.Source != "env STRATA_CLUSTER_KEY" {
			t.Fatalf("%+v %v", k, err)
		}
	})
	t.Run("bad env", func(t *testing.T) {
		c := Config{DataDir: t.TempDir()}
		if _, err := c.ResolveClusterKey("c2hvcnQ="); err == nil || !strings.Contains(err.Error(), "STRATA_CLUSTER_KEY") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "k")
		if err := os.WriteFile(f, []byte(good+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c := Config{DataDir: t.TempDir(), ClusterKeyFile: f}
		k, err := c.ResolveClusterKey("")
		if err != nil || k.Generated || k.Source != f {
			t.Fatalf("%+v %v", k, err)
		}
	})
	t.Run("missing configured file is an error", func(t *testing.T) {
		c := Config{DataDir: t.TempDir(), ClusterKeyFile: filepath.Join(t.TempDir(), "nope")}
		if _, err := c.ResolveClusterKey(""); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("generated once then reused", func(t *testing.T) {
		c := Config{DataDir: filepath.Join(t.TempDir(), "data")}
		k1, err := c.ResolveClusterKey("")
		if err != nil || !k1.Generated {
			t.Fatalf("%+v %v", k1, err)
		}
		st, err := os.Stat(filepath.Join(c.DataDir, "cluster.key"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", st, err)
		}
		k2, err := c.ResolveClusterKey("")
		if err != nil || k2.Generated || string(k2.Key) != string(k1.Key) {
			t.Fatalf("%+v %v", k2, err)
		}
	})
	for _, state := range []string{"raft/raft.db", "fsm/state.db"} {
		t.Run("no key for a data dir with "+state, func(t *testing.T) {
			c := Config{DataDir: t.TempDir()}
			p := filepath.Join(c.DataDir, filepath.FromSlash(state))
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := c.ResolveClusterKey("")
			if err == nil || !strings.Contains(err.Error(), "already holds cluster state") {
				t.Fatalf("err = %v", err)
			}
			if _, serr := os.Stat(filepath.Join(c.DataDir, "cluster.key")); serr == nil {
				t.Fatal("a key file was generated")
			}
		})
	}
}

// TestExampleConfig keeps the shipped example valid.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// An empty environment: the example must not depend on variables a
	// service manager does not set (systemd sets no HOSTNAME).
	c, err := Parse(b, env(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	c.ApplyDefaults("unused")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.NodeID != "node1" || c.WantDevBackend() || !c.Lockdown() || c.UploadExpiry != 24*time.Hour ||
		c.OrphanGrace != time.Hour || c.OrphanInterval != time.Hour || c.LogFormat != "json" {
		t.Fatalf("%+v", c)
	}
}
