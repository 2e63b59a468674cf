// Package deploy holds no Go code, only its test: it checks the
// deployment files (Nomad job, compose file, systemd unit, Dockerfile)
// say what the operations docs promise. Nomad cannot be installed on the
// build machines, so the job is parsed with hashicorp/hcl and its
// templates are rendered with stand-ins for Nomad's template functions;
// the rendered node configuration is loaded by strata's own config
// package.
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/alecthomas/kong"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"go.yaml.in/yaml/v3"

	"github.com/stratagw/strata/config"
	"github.com/stratagw/strata/iam"
	"github.com/stratagw/strata/internal/sealbox"
)

// ---- Nomad ----

// block finds the only child block of type typ (and first label, if
// given) or fails.
func block(t *testing.T, body *hclsyntax.Body, typ string, label ...string) *hclsyntax.Block {
	t.Helper()
	found := blocks(body, typ, label...)
	if len(found) != 1 {
		t.Fatalf("want one %s %v block at %s, found %d", typ, label, body.SrcRange, len(found))
	}
	return found[0]
}

func blocks(body *hclsyntax.Body, typ string, label ...string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type == typ && (len(label) == 0 || (len(b.Labels) > 0 && b.Labels[0] == label[0])) {
			out = append(out, b)
		}
	}
	return out
}

// attr evaluates a literal attribute (no variables or functions).
func attr(t *testing.T, body *hclsyntax.Body, name string) cty.Value {
	t.Helper()
	a, ok := body.Attributes[name]
	if !ok {
		t.Fatalf("no attribute %q at %s", name, body.SrcRange)
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("attribute %s: %v", name, diags)
	}
	return v
}

func str(t *testing.T, body *hclsyntax.Body, name string) string {
	t.Helper()
	v := attr(t, body, name)
	if v.Type() != cty.String {
		t.Fatalf("attribute %s is %s, not a string", name, v.Type().FriendlyName())
	}
	return v.AsString()
}

func strList(t *testing.T, body *hclsyntax.Body, name string) []string {
	t.Helper()
	v := attr(t, body, name)
	if !v.Type().IsTupleType() && !v.Type().IsListType() {
		t.Fatalf("attribute %s is %s, not a list", name, v.Type().FriendlyName())
	}
	var out []string
	for _, e := range v.AsValueSlice() {
		out = append(out, e.AsString())
	}
	return out
}

func integer(t *testing.T, body *hclsyntax.Body, name string) int64 {
	t.Helper()
	v := attr(t, body, name)
	if v.Type() != cty.Number {
		t.Fatalf("attribute %s is %s, not a number", name, v.Type().FriendlyName())
	}
	n, acc := v.AsBigFloat().Int64()
	if acc != 0 {
		t.Fatalf("attribute %s = %s is not an integer", name, v.AsBigFloat())
	}
	return n
}

func parseJob(t *testing.T) *hclsyntax.Body {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCLFile(filepath.Join("nomad", "strata.nomad.hcl"))
	if diags.HasErrors() {
		t.Fatalf("parse: %v", diags)
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		t.Fatalf("not native HCL syntax")
	}
	return body
}

type nomadService struct {
	Address, AllocID string
	Port             int
}

// render runs a Nomad template with stand-ins for the functions Nomad
// provides: env, nomadVar and nomadService.
func render(t *testing.T, text string, env map[string]string, vars map[string]string, services map[string][]nomadService) string {
	t.Helper()
	tmpl, err := template.New("nomad").Option("missingkey=error").Funcs(template.FuncMap{
		"env": func(k string) string { return env[k] },
		"nomadVar": func(path string) (map[string]string, error) {
			if path != "nomad/jobs/strata" {
				t.Errorf("template reads Nomad variable %q, want the job's own nomad/jobs/strata", path)
			}
			return vars, nil
		},
		"nomadService": func(name string) []nomadService { return services[name] },
	}).Parse(text)
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, nil); err != nil {
		t.Fatalf("render: %v", err)
	}
	return b.String()
}

// TestNomadJob checks the job's structure: three allocations, the four
// static ports, the data volume, the secrets template, service discovery
// for --join and the /ready check.
func TestNomadJob(t *testing.T) {
	body := parseJob(t)
	job := block(t, body, "job", "strata")
	group := block(t, job.Body, "group")
	if n := integer(t, group.Body, "count"); n != 3 {
		t.Errorf("count = %d, want 3", n)
	}

	network := block(t, group.Body, "network")
	wantPorts := map[string]int64{"s3": 9000, "admin": 9001, "raft": 9100, "gossip": 9101}
	for label, want := range wantPorts {
		if got := integer(t, block(t, network.Body, "port", label).Body, "static"); got != want {
			t.Errorf("port %s static = %d, want %d", label, got, want)
		}
	}
	if n := len(blocks(network.Body, "port")); n != len(wantPorts) {
		t.Errorf("%d ports, want %d", n, len(wantPorts))
	}

	vol := block(t, group.Body, "volume")
	if typ := str(t, vol.Body, "type"); typ != "host" {
		t.Errorf("volume type %q, want host", typ)
	}
	task := block(t, group.Body, "task", "strata")
	mount := block(t, task.Body, "volume_mount")
	if got := str(t, mount.Body, "volume"); got != vol.Labels[0] {
		t.Errorf("volume_mount mounts %q, the group's volume is %q", got, vol.Labels[0])
	}
	if dst := str(t, mount.Body, "destination"); dst != "/data" {
		t.Errorf("volume mounted at %q, want /data", dst)
	}
	if ro := attr(t, mount.Body, "read_only"); ro.True() {
		t.Errorf("data volume mounted read-only")
	}

	// Services: gossip discovery for --join, and /ready checked.
	services := map[string]*hclsyntax.Block{}
	for _, s := range blocks(group.Body, "service") {
		services[str(t, s.Body, "name")] = s
		if p := str(t, s.Body, "provider"); p != "nomad" {
			t.Errorf("service %s provider %q: the templates use nomadService", str(t, s.Body, "name"), p)
		}
	}
	gossip, ok := services["strata-gossip"]
	if !ok {
		t.Fatalf("no strata-gossip service; services: %v", services)
	}
	if p := str(t, gossip.Body, "port"); p != "gossip" {
		t.Errorf("strata-gossip service on port %q, want gossip", p)
	}
	var readyChecks int
	for name, s := range services {
		for _, c := range blocks(s.Body, "check") {
			if _, ok := c.Body.Attributes["path"]; !ok {
				continue
			}
			if str(t, c.Body, "path") == "/ready" {
				readyChecks++
				if typ := str(t, c.Body, "type"); typ != "http" {
					t.Errorf("service %s: /ready check type %q", name, typ)
				}
				if port := str(t, c.Body, "port"); port != "admin" {
					t.Errorf("service %s: /ready checked on port %q, want admin", name, port)
				}
			}
		}
	}
	if readyChecks == 0 {
		t.Errorf("no service checks /ready")
	}

	// Templates: the secrets env file and the node configuration.
	var secrets, conf *hclsyntax.Block
	for _, tb := range blocks(task.Body, "template") {
		switch dst := str(t, tb.Body, "destination"); {
		case strings.HasPrefix(dst, "secrets/"):
			secrets = tb
		case strings.HasSuffix(dst, ".yaml"):
			conf = tb
		}
	}
	if secrets == nil || conf == nil {
		t.Fatalf("want a template into secrets/ and a .yaml config template")
	}
	if !attr(t, secrets.Body, "env").True() {
		t.Errorf("secrets template is not read as environment (env = true)")
	}
	env := render(t, str(t, secrets.Body, "data"), nil,
		map[string]string{"cluster_key": "S0VZ", "admin_access_key": "AK", "admin_secret_key": "SK"}, nil)
	for _, want := range []string{"STRATA_CLUSTER_KEY=S0VZ", "STRATA_ADMIN_ACCESS_KEY=AK", "STRATA_ADMIN_SECRET_KEY=SK"} {
		if !slices.Contains(strings.Fields(env), want) {
			t.Errorf("secrets env file lacks %s:\n%s", want, env)
		}
	}

	cfg := block(t, task.Body, "config")
	args := strList(t, cfg.Body, "args")
	confPath := "/" + str(t, conf.Body, "destination") // docker driver: local/ is /local
	if len(args) < 3 || args[0] != "server" || !slices.Contains(args, "--config") || !slices.Contains(args, confPath) {
		t.Errorf("args %q do not run `server --config %s`", args, confPath)
	}
	if _, ok := cfg.Body.Attributes["image"]; !ok || str(t, task.Body, "driver") != "docker" {
		t.Errorf("task is not a docker task with an image")
	}
}

// TestNomadNodeConfig renders the node configuration template for each
// allocation index and loads it with strata's config package: allocation
// 0 bootstraps, the others join every other registered gossip address,
// and no node is ever left with nothing to join but itself (it would
// bootstrap its own cluster).
func TestNomadNodeConfig(t *testing.T) {
	body := parseJob(t)
	task := block(t, block(t, block(t, body, "job", "strata").Body, "group").Body, "task", "strata")
	var text string
	for _, tb := range blocks(task.Body, "template") {
		if strings.HasSuffix(str(t, tb.Body, "destination"), ".yaml") {
			text = str(t, tb.Body, "data")
		}
	}
	registered := []nomadService{
		{Address: "10.0.0.1", Port: 9101, AllocID: "alloc-a"},
		{Address: "10.0.0.2", Port: 9101, AllocID: "alloc-b"},
		{Address: "10.0.0.3", Port: 9101, AllocID: "alloc-c"},
	}
	tests := []struct {
		name      string
		index     string
		allocID   string
		services  []nomadService
		bootstrap bool
		join      []string // addresses that must be in the list
		notJoin   string   // address that must not be
	}{
		{"first alloc, others up", "0", "alloc-a", registered, true, []string{"10.0.0.2:9101", "10.0.0.3:9101"}, "10.0.0.1:9101"},
		{"first alloc alone", "0", "alloc-a", nil, true, nil, ""},
		{"second alloc", "1", "alloc-b", registered, false, []string{"10.0.0.1:9101", "10.0.0.3:9101"}, "10.0.0.2:9101"},
		{"third alloc before anyone registered", "2", "alloc-c", nil, false, nil, ""},
		{"third alloc, only itself registered", "2", "alloc-c", registered[2:], false, nil, "10.0.0.3:9101"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := render(t, text, map[string]string{
				"NOMAD_ALLOC_INDEX": tc.index, "NOMAD_ALLOC_ID": tc.allocID, "NOMAD_IP_gossip": "10.0.0.9",
			}, nil, map[string][]nomadService{"strata-gossip": tc.services})
			cfg, err := config.Parse([]byte(out), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatalf("rendered config does not load: %v\n%s", err, out)
			}
			cfg.ApplyDefaults("nomad-client")
			if err := cfg.Validate(); err != nil {
				t.Fatalf("rendered config is invalid: %v\n%s", err, out)
			}
			if cfg.NodeID != "strata-"+tc.index || cfg.DataDir != "/data" || cfg.Advertise != "10.0.0.9" || cfg.WantDevBackend() {
				t.Errorf("node settings: %+v\n%s", cfg, out)
			}
			if cfg.Bootstrap != tc.bootstrap {
				t.Errorf("bootstrap = %v, want %v\n%s", cfg.Bootstrap, tc.bootstrap, out)
			}
			if !tc.bootstrap && len(cfg.Join) == 0 {
				t.Errorf("a joining node with an empty join list would bootstrap its own cluster\n%s", out)
			}
			for _, j := range tc.join {
				if !slices.Contains(cfg.Join, j) {
					t.Errorf("join %v lacks %s", cfg.Join, j)
				}
			}
			if tc.notJoin != "" && slices.Contains(cfg.Join, tc.notJoin) {
				t.Errorf("join %v lists the node itself (%s)", cfg.Join, tc.notJoin)
			}
		})
	}
}

// ---- compose ----

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		Networks    []string          `yaml:"networks"`
		Profiles    []string          `yaml:"profiles"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Networks map[string]struct {
		Internal bool `yaml:"internal"`
	} `yaml:"networks"`
	Volumes map[string]any `yaml:"volumes"`
}

// serverArgs parses a `strata server` command line exactly as the binary
// does (the same flag definitions), then applies defaults and validation.
func serverArgs(t *testing.T, args []string) config.Config {
	t.Helper()
	var cli struct {
		Server struct {
			Config string `name:"config"`
			config.Overrides
		} `cmd:""`
	}
	p, err := kong.New(&cli, kong.Exit(func(int) { t.Fatalf("kong exited on %q", args) }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse(args); err != nil {
		t.Fatalf("strata %q: %v", args, err)
	}
	var cfg config.Config
	cfg.Apply(cli.Server.Overrides)
	cfg.ApplyDefaults("container")
	if err := cfg.Validate(); err != nil {
		t.Fatalf("strata %q: %v", args, err)
	}
	return cfg
}

// TestCompose checks deploy/compose.yaml: three nodes plus strata4 behind
// a profile, the backend unpublished, healthchecks through `strata
// health`, a volume per node, host ports on loopback and configurable.
func TestCompose(t *testing.T) {
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, name := range []string{"strata1", "strata2", "strata3", "strata4", "s3"} {
		if _, ok := cf.Services[name]; !ok {
			t.Fatalf("no service %s", name)
		}
	}
	if len(cf.Services) != 5 {
		t.Errorf("%d services, want strata1-4 and s3", len(cf.Services))
	}

	s3 := cf.Services["s3"]
	if len(s3.Ports) != 0 {
		t.Errorf("s3 publishes ports %v: the backend is reachable through strata only", s3.Ports)
	}
	if !slices.Equal(s3.Healthcheck.Test[:3], []string{"CMD", "/strata", "health"}) {
		t.Errorf("s3 healthcheck %v does not use /strata health", s3.Healthcheck.Test)
	}
	if len(s3.Volumes) != 1 || !strings.HasSuffix(s3.Volumes[0], ":/data") {
		t.Errorf("s3 volumes %v, want one on /data", s3.Volumes)
	}

	portRe := regexp.MustCompile(`^127\.0\.0\.1:\$\{STRATA(\d)_(S3|ADMIN)_PORT:-(\d+)\}:(\d+)$`)
	hostPorts := map[string]bool{}
	for n := 1; n <= 4; n++ {
		name := "strata" + string(rune('0'+n))
		svc := cf.Services[name]
		if (n == 4) != slices.Contains(svc.Profiles, "extra") {
			t.Errorf("%s profiles %v: only strata4 is behind the extra profile", name, svc.Profiles)
		}
		if !slices.Equal(svc.Networks, s3.Networks) {
			t.Errorf("%s networks %v differ from the backend's %v", name, svc.Networks, s3.Networks)
		}
		test := strings.Join(svc.Healthcheck.Test, " ")
		if !strings.HasPrefix(test, "CMD /strata health") || !strings.Contains(test, "/ready") {
			t.Errorf("%s healthcheck %q is not `/strata health` on /ready", name, test)
		}
		if !strings.Contains(svc.Environment["STRATA_CLUSTER_KEY"], "${STRATA_CLUSTER_KEY") {
			t.Errorf("%s gets no cluster key from the environment: %v", name, svc.Environment)
		}
		vol := name + ":/data"
		if !slices.Equal(svc.Volumes, []string{vol}) {
			t.Errorf("%s volumes %v, want [%s]", name, svc.Volumes, vol)
		}
		if _, ok := cf.Volumes[name]; !ok {
			t.Errorf("volume %s not declared", name)
		}
		if len(svc.Ports) != 2 {
			t.Errorf("%s ports %v, want S3 and admin", name, svc.Ports)
		}
		for _, p := range svc.Ports {
			m := portRe.FindStringSubmatch(p)
			if m == nil || m[1] != string(rune('0'+n)) {
				t.Errorf("%s port %q is not 127.0.0.1:${STRATA%d_..._PORT:-default}:port", name, p, n)
				continue
			}
			if hostPorts[m[3]] {
				t.Errorf("default host port %s used twice", m[3])
			}
			hostPorts[m[3]] = true
		}

		cfg := serverArgs(t, svc.Command)
		if cfg.NodeID != name || cfg.Advertise != name || cfg.DataDir != "/data" || cfg.WantDevBackend() {
			t.Errorf("%s: node settings %+v", name, cfg)
		}
		if cfg.GossipAddr != "0.0.0.0:9101" || cfg.RaftAddr != "0.0.0.0:9100" {
			t.Errorf("%s: raft %s gossip %s, want all interfaces", name, cfg.RaftAddr, cfg.GossipAddr)
		}
		if n == 1 {
			if !cfg.Bootstrap || len(cfg.Join) != 0 {
				t.Errorf("strata1 must bootstrap and join nobody: %+v", cfg)
			}
			for _, k := range []string{"STRATA_ADMIN_ACCESS_KEY", "STRATA_ADMIN_SECRET_KEY"} {
				if !strings.Contains(svc.Environment[k], "${"+k) {
					t.Errorf("strata1 gets no %s from the environment", k)
				}
			}
		} else if cfg.Bootstrap || !slices.Contains(cfg.Join, "strata1:9101") {
			t.Errorf("%s must join through strata1, not bootstrap: %+v", name, cfg)
		}
	}
	if want := map[string]bool{"9000": true, "9001": true, "9010": true, "9011": true, "9020": true, "9021": true}; !mapsSubset(want, hostPorts) {
		t.Errorf("default host ports %v, want node1 9000/9001, node2 9010/9011, node3 9020/9021", hostPorts)
	}
}

func mapsSubset(sub, m map[string]bool) bool {
	for k := range sub {
		if !m[k] {
			return false
		}
	}
	return true
}

// TestComposeConfig lets docker-compose itself validate the file, when it
// is installed: with every variable set it is valid; without the cluster
// key it is refused (rather than each node generating its own).
func TestComposeConfig(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Skip("docker-compose not installed")
	}
	empty := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	vars := []string{"STRATA_CLUSTER_KEY=k", "STRATA_ADMIN_ACCESS_KEY=a", "STRATA_ADMIN_SECRET_KEY=s", "S3_ACCESS_KEY=a", "S3_SECRET_KEY=s"}
	for _, tc := range []struct {
		name    string
		vars    []string
		wantErr string
	}{
		{"all set", vars, ""},
		{"no cluster key", vars[1:], "STRATA_CLUSTER_KEY"},
		{"no backend secret", vars[:4], "S3_SECRET_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An empty --env-file: a developer's deploy/.env must not fill
			// in what the test leaves out.
			cmd := exec.Command("docker-compose", "-f", "compose.yaml", "--env-file", empty, "--profile", "extra", "config", "-q")
			cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
				k, _, _ := strings.Cut(kv, "=")
				return slices.ContainsFunc(vars, func(v string) bool { return strings.HasPrefix(v, k+"=") })
			})
			cmd.Env = append(cmd.Env, tc.vars...)
			out, err := cmd.CombinedOutput()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("docker-compose config: %v\n%s", err, out)
			case tc.wantErr != "" && (err == nil || !strings.Contains(string(out), tc.wantErr)):
				t.Fatalf("docker-compose config: err %v, want an error naming %s\n%s", err, tc.wantErr, out)
			}
		})
	}
}

// TestClusterScriptEnv runs `cluster.sh env`: it writes a private env file
// whose cluster key strata accepts and whose credentials are valid, and a
// second run leaves it alone (the credential must not change under a
// running cluster).
func TestClusterScriptEnv(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "cluster.env")
	runEnv := func() {
		t.Helper()
		cmd := exec.Command("./cluster.sh", "env")
		cmd.Env = append(os.Environ(), "STRATA_ENV_FILE="+envFile)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cluster.sh env: %v\n%s", err, out)
		}
	}
	runEnv()
	first, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(envFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("env file mode: %v %v", st.Mode(), err)
	}
	vals := map[string]string{}
	for _, line := range strings.Split(string(first), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			vals[k] = v
		}
	}
	if _, err := sealbox.ParseKey(vals["STRATA_CLUSTER_KEY"]); err != nil {
		t.Errorf("generated cluster key %q refused: %v", vals["STRATA_CLUSTER_KEY"], err)
	}
	for _, pair := range [][2]string{{"STRATA_ADMIN_ACCESS_KEY", "STRATA_ADMIN_SECRET_KEY"}, {"S3_ACCESS_KEY", "S3_SECRET_KEY"}} {
		if err := iam.ValidateKeyPair(vals[pair[0]], vals[pair[1]]); err != nil {
			t.Errorf("%s/%s: %v", pair[0], pair[1], err)
		}
	}
	runEnv()
	if again, err := os.ReadFile(envFile); err != nil || !bytes.Equal(again, first) {
		t.Errorf("second run changed the env file (%v)", err)
	}

	cmd := exec.Command("./cluster.sh", "bogus")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "cluster.sh up") {
		t.Errorf("unknown command: %v\n%s", err, out)
	}
}

// ---- systemd and Dockerfile ----

// unitSettings reads KEY=VALUE lines of a systemd unit (all sections;
// repeated keys accumulate).
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		out[k] = append(out[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSystemdUnit checks the hardening the docs promise and that the data
// directory the node is started with is writable.
func TestSystemdUnit(t *testing.T) {
	u := unitSettings(t, filepath.Join("systemd", "strata.service"))
	for k, want := range map[string]string{"NoNewPrivileges": "yes", "ProtectSystem": "strict", "KillSignal": "SIGTERM"} {
		if got := u[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %v, want %s", k, got, want)
		}
	}
	if len(u["ExecStart"]) != 1 {
		t.Fatalf("ExecStart: %v", u["ExecStart"])
	}
	m := regexp.MustCompile(`--data-dir[ =](\S+)`).FindStringSubmatch(u["ExecStart"][0])
	if m == nil {
		t.Fatalf("ExecStart %q sets no --data-dir", u["ExecStart"][0])
	}
	var writable []string
	for _, v := range u["ReadWritePaths"] {
		writable = append(writable, strings.Fields(v)...)
	}
	if !slices.Contains(writable, m[1]) {
		t.Errorf("data dir %s not in ReadWritePaths %v", m[1], writable)
	}
	if u["User"] == nil || u["User"][0] == "root" {
		t.Errorf("runs as %v, want a dedicated user", u["User"])
	}
}

// TestDockerfiles checks both images are FROM scratch, run as the
// non-root user, and check health with the strata binary.
func TestDockerfiles(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"Dockerfile", []string{
			"FROM scratch", "USER 65532:65532", "WORKDIR /data", "VOLUME /data",
			"EXPOSE 9000 9001 9100 9101 9101/udp", `ENTRYPOINT ["/strata"]`,
			"COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt",
		}},
		{"versitygw.Dockerfile", []string{"FROM scratch", "USER 65532:65532", "VOLUME /data", `ENTRYPOINT ["/versitygw"]`}},
	} {
		raw, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		// Join continuation lines so each instruction is one line.
		text := strings.ReplaceAll(string(raw), "\\\n", " ")
		lines := map[string]bool{}
		var froms int
		for _, l := range strings.Split(text, "\n") {
			l = strings.Join(strings.Fields(l), " ")
			lines[l] = true
			if strings.HasPrefix(l, "FROM ") {
				froms++
			}
		}
		for _, w := range tc.want {
			if !lines[w] {
				t.Errorf("%s: no line %q", tc.file, w)
			}
		}
		if froms != 1 {
			t.Errorf("%s: %d FROM lines: nothing but scratch can be used", tc.file, froms)
		}
		if !regexp.MustCompile(`(?m)^HEALTHCHECK .* CMD \["/strata", "health"`).MatchString(strings.Join(slices.Collect(maps.Keys(lines)), "\n")) {
			t.Errorf("%s: HEALTHCHECK does not run /strata health", tc.file)
		}
	}
}
