package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stratagw/strata/admin/api"
	"github.com/stratagw/strata/admin/client"
	"github.com/stratagw/strata/server"
)

// adminCmd groups the admin API clients. Its flags are accepted after any
// sub-command (`strata admin backend list --json`).
type adminCmd struct {
	adminConn `embed:""`
	JSON      bool `name:"json" help:"Print machine-readable JSON."`

	Backend  backendCmd  `cmd:"" help:"Storage backends."`
	Region   regionCmd   `cmd:"" help:"Virtual regions."`
	Bucket   bucketCmd   `cmd:"" help:"Virtual buckets."`
	Snapshot snapshotCmd `cmd:"" help:"Back up the cluster state (restore with 'strata restore')."`
}

// adminTimeout bounds one admin command; adding an s3 backend waits for a
// reachability check, so it is generous.
const adminTimeout = time.Minute

// defaultCredentialFile is where a dev gateway started in the current
// directory keeps its generated admin credential.
var defaultCredentialFile = filepath.Join("strata-data", server.CredentialFileName)

// adminConn are the flags of every command that is a client of a node's
// admin API (`strata admin …`, join, leave, members, remove).
type adminConn struct {
	URL string `name:"url" env:"STRATA_ADMIN_URL" default:"${admin_url}" help:"Admin API of a node."`
}

// connect builds a client signed with the first credential found:
// STRATA_ACCESS_KEY/STRATA_SECRET_KEY, STRATA_ADMIN_ACCESS_KEY/
// STRATA_ADMIN_SECRET_KEY, then ./strata-data/admin-credential.json.
func (a *adminConn) connect(e env) (*client.Client, error) {
	ak, sk, err := adminCredential(e)
	if err != nil {
		return nil, err
	}
	return client.New(a.URL, ak, sk)
}

func adminCredential(e env) (string, string, error) {
	for _, pair := range [][2]string{
		{"STRATA_ACCESS_KEY", "STRATA_SECRET_KEY"},
		{"STRATA_ADMIN_ACCESS_KEY", "STRATA_ADMIN_SECRET_KEY"},
	} {
		ak, sk := e.getenv(pair[0]), e.getenv(pair[1])
		if ak != "" || sk != "" {
			if ak == "" || sk == "" {
				return "", "", fmt.Errorf("set both %s and %s", pair[0], pair[1])
			}
			return ak, sk, nil
		}
	}
	c, err := server.ReadCredentialFile(defaultCredentialFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", errors.New("no admin credential: set STRATA_ACCESS_KEY and STRATA_SECRET_KEY (or run next to a dev gateway's ./strata-data)")
	}
	if err != nil {
		return "", "", err
	}
	return c.AccessKey, c.SecretKey, nil
}

func adminContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), adminTimeout)
}

// output prints v as JSON with --json, else calls human.
func (a *adminCmd) output(e env, v any, human func(w io.Writer)) error {
	return output(e, a.JSON, v, human)
}

// output prints v as indented JSON when asJSON, else calls human.
func output(e env, asJSON bool, v any, human func(w io.Writer)) error {
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	human(e.stdout)
	return nil
}

// table writes rows aligned in columns.
func table(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type backendCmd struct {
	Add    backendAddCmd    `cmd:"" help:"Add a backend (it is opened and checked before it is committed)."`
	List   backendListCmd   `cmd:"" help:"List backends."`
	Remove backendRemoveCmd `cmd:"" help:"Remove a backend no bucket uses."`
}

type backendAddCmd struct {
	Name      string `name:"name" required:"" help:"Unique backend name."`
	Type      string `name:"type" required:"" enum:"fs,s3" help:"fs or s3."`
	Path      string `name:"path" help:"fs: absolute root directory."`
	Endpoint  string `name:"endpoint" help:"s3: endpoint URL."`
	Region    string `name:"region" help:"s3: region."`
	AccessKey string `name:"access-key" help:"s3: access key."`
	SecretKey string `name:"secret-key" env:"STRATA_BACKEND_SECRET_KEY" help:"s3: secret key (prefer the environment variable: it keeps the key out of ps)."`
	PathStyle bool   `name:"path-style" help:"s3: path-style addressing."`
}

func (c *backendAddCmd) Run(a *adminCmd, e env) error {
	cl, err := a.connect(e)
	if err != nil {
		return err
	}
	ctx, cancel := adminContext()
	defer cancel()
	path := c.Path
	if path != "" && c.Type == "fs" {
		if path, err = filepath.Abs(path); err != nil {
			return fmt.Errorf("--path: %w", err)
		}
	}
	be, err := cl.AddBackend(ctx, api.AddBackend{
		Name: c.Name, Type: c.Type, Path: path, Endpoint: c.Endpoint, Region: c.Region,
		AccessKey: c.AccessKey, SecretKey: c.SecretKey, PathStyle: c.PathStyle,
	})
	if err != nil {
		return err
	}
	return a.output(e, be, func(w io.Writer) {
		fmt.Fprintf(w, "added backend %s (%s, id %s); virtual region: %s\n", be.Name, be.Type, be.ID, strings.Join(be.Regions, ", "))
	})
}

type backendListCmd struct{}

func (backendListCmd) Run(a *adminCmd, e env) error {
	cl, err := a.connect(e)
	if err != nil {
		return err
	}
	ctx, cancel := adminContext()
	defer cancel()
	bes, err := cl.Backends(ctx)
	if err != nil {
		return err
	}
	return a.output(e, bes, func(w io.Writer) {
		rows := make([][]string, 0, len(bes))
		for _, b := range bes {
			loc := b.Path
			if b.Type == "s3" {
				loc = b.Endpoint + " (" + b.Region + ")"
			}
			rows = append(rows, []string{b.Name, b.Type, b.ID, loc, orDash(b.AccessKey), strings.Join(b.Regions, ",")})
		}
		table(w, []string{"NAME", "TYPE", "ID", "LOCATION", "ACCESS KEY", "REGIONS"}, rows)
	})
}

type backendRemoveCmd struct {
	Name string `arg:"" help:"Backend name."`
}

func (c *backendRemoveCmd) Run(a *adminCmd, e env) error {
	cl, err := a.connect(e)
	if err != nil {
		return err
	}
	ctx, cancel := adminContext()
	defer cancel()
	if err := cl.RemoveBackend(ctx, c.Name); err != nil {
		return err
	}
	return a.output(e, map[string]string{"removed": c.Name}, func(w io.Writer) {
		fmt.Fprintf(w, "removed backend %s\n", c.Name)
	})
}

type regionCmd struct {
	List    regionListCmd    `cmd:"" help:"List virtual regions."`
	Rename  regionRenameCmd  `cmd:"" help:"Rename a virtual region."`
	Default regionDefaultCmd `cmd:"" help:"Set the region buckets are created in without a LocationConstraint."`
}

type regionListCmd struct{}

func (regionListCmd) Run(a *adminCmd, e env) error {
	cl, err := a.connect(e)
	if err != nil {
		return err
	}
	ctx, cancel := adminContext()
	defer cancel()
	regions, err := cl.Regions(ctx)
	if err != nil {
		return err
	}
	return a.output(e, regions, func(w io.Writer) {
		rows := make([][]string, 0, len(regions))
		for _, r := range regions {
			var backings []string
			for _, b := range r.Backings {
				backings = append(backings, b.Backend+"/"+b.Region)
			}
			def := ""
			if r.Default {
				def = "yes"
			}
			rows = append(rows, []string{r.Name, orDash(def), strings.Join(backings, ",")})
		}
		table(w, []string{"NAME", "DEFAULT", "BACKED BY (backend/region)"}, rows)
	})
}

type regionRenameCmd struct {
	Old string `arg:"" help:"Current name."`
	New string `arg:"" help:"New name."`
}

func (c *regionRenameCmd) Run(a *adminCmd, e env) error {
	cl, err := a.connect(e)
	if err != nil {
		return err
	}
	ctx, cancel := adminContext()
	defer cancel()
	r, err := cl.RenameRegion(ctx, c.Old, c.New)
	if err != nil {
		return err
	}
	return a.output(e, r, func(w io.Writer) { fmt.Fprintf(w, "renamed region %s to %s\n", c.Old, r.Name) })
}

type regionDefaultCmd struct {
	Name string `arg:"" help:"Region name."`
}

func (c *regionDefaultCmd) Run(a *adminCmd, e env) error {
	cl, err := a.connect(e)
	if err != nil {
		return err
	}
	ctx, cancel := adminContext()
	defer cancel()
	if err := cl.SetDefaultRegion(ctx, c.Name); err != nil {
		return err
	}
	return a.output(e, api.DefaultRegion{Region: c.Name}, func(w io.Writer) {
		fmt.Fprintf(w, "default region is now %s\n", c.Name)
	})
}

type bucketCmd struct {
	List bucketListCmd `cmd:"" help:"List virtual buckets and their backing buckets."`
}

type bucketListCmd struct{}

func (bucketListCmd) Run(a *adminCmd, e env) error {
	cl, err := a.connect(e)
	if err != nil {
		return err
	}
	ctx, cancel := adminContext()
	defer cancel()
	buckets, err := cl.Buckets(ctx)
	if err != nil {
		return err
	}
	return a.output(e, buckets, func(w io.Writer) {
		rows := make([][]string, 0, len(buckets))
		for _, b := range buckets {
			var backings []string
			for _, bb := range b.Backings {
				backings = append(backings, bb.Backend+":"+bb.Name)
			}
			rows = append(rows, []string{b.Name, b.Region, b.Owner, strings.Join(backings, ","), b.CreatedAt.Format(time.RFC3339)})
		}
		table(w, []string{"NAME", "REGION", "OWNER", "BACKING (backend:bucket)", "CREATED"}, rows)
	})
}
