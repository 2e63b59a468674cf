// Command strata is the one strata binary: `strata server` runs a node;
// `strata join|leave|members|remove` and `strata admin …` are thin clients
// of a node's admin API; `strata version` prints the build. The
// command-line contract is in design.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/stratagw/strata/admin/client"
)

// version is set at link time (-X main.version=…) by the Makefile.
var version = "dev"

// cli is the command tree.
type cli struct {
	Server  serverCmd  `cmd:"" help:"Run a strata node (with no flags: a single-node development gateway in ./strata-data)."`
	Join    joinCmd    `cmd:"" help:"Ask the local node to join the cluster of a member (its gossip HOST:PORT)."`
	Leave   leaveCmd   `cmd:"" help:"Make the local node leave the cluster gracefully; it exits afterwards."`
	Members membersCmd `cmd:"" help:"List the cluster's nodes: addresses, raft role, voter, gossip state, applied index."`
	Remove  removeCmd  `cmd:"" help:"Force a dead node out of the cluster."`
	Admin   adminCmd   `cmd:"" help:"Manage the cluster through a node's admin API."`
	Restore restoreCmd `cmd:"" help:"Create a new node's data directory from a snapshot ('strata admin snapshot save'); needs the cluster key it was taken with."`
	Health  healthCmd  `cmd:"" help:"Probe a node (exit 0 when /ready answers 200): the healthcheck of images without curl."`
	Version versionCmd `cmd:"" help:"Print the version."`
}

// env carries the process's outside world to commands, so tests and main
// share one code path.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

func main() {
	os.Exit(run(os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}))
}

// run parses args and runs the command; it returns the exit status.
func run(args []string, e env) int {
	var c cli
	exited := -1
	parser, err := kong.New(&c,
		kong.Name("strata"),
		kong.Description("strata is a clustered S3 gateway."),
		kong.Writers(e.stdout, e.stderr),
		kong.Exit(func(code int) { exited = code }),
		kong.UsageOnError(),
		kong.Bind(e),
		kong.Vars{"admin_url": client.DefaultURL, "gossip_port": defaultGossipPort},
	)
	if err != nil {
		fmt.Fprintf(e.stderr, "strata: %v\n", err)
		return 1
	}
	ctx, err := parser.Parse(args)
	if exited >= 0 {
		return exited // --help
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "strata: %v\n", err)
		return 1
	}
	if err := ctx.Run(); err != nil {
		fmt.Fprintf(e.stderr, "strata: %s\n", describe(err))
		return 1
	}
	return 0
}

// describe turns an error into the one line a person needs.
func describe(err error) string {
	var ue *client.UnreachableError
	if errors.As(err, &ue) {
		return ue.Error() + " (is `strata server` running?)"
	}
	var ae *client.APIError
	if errors.As(err, &ae) {
		return oneLine(ae.Message)
	}
	return oneLine(err.Error())
}

// oneLine joins the lines of a multi-line message (hashicorp's multierror
// lists its errors on lines of their own), so every failure is one line.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}

type versionCmd struct{}

func (versionCmd) Run(e env) error {
	fmt.Fprintf(e.stdout, "strata %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
