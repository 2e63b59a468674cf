package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Endpoint is one node's S3 API as the clients reach it.
type Endpoint struct {
	Name string // node name, recorded with each operation
	URL  string
}

// LoadConfig describes a client load.
type LoadConfig struct {
	Endpoints            []Endpoint
	Bucket               string
	AccessKey, SecretKey string
	Clients              int           // concurrent clients; 0 = 6
	FirstClient          int           // id of the first client (several loads on one history)
	Keys                 int           // size of the key space; 0 = 8
	OpTimeout            time.Duration // per operation; 0 = 5s
	// Pause between two operations of one client; 0 = 10ms. It keeps the
	// history small enough to check while still overlapping operations.
	Pause time.Duration
	// Sticky keeps each client on its node even when the node refuses
	// connections (a partition test wants the cut-off node's clients to
	// keep asking it).
	Sticky bool
}

func (c LoadConfig) withDefaults() LoadConfig {
	if c.Clients == 0 {
		c.Clients = 6
	}
	if c.Keys == 0 {
		c.Keys = 8
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = 5 * time.Second
	}
	if c.Pause == 0 {
		c.Pause = 10 * time.Millisecond
	}
	return c
}

// KeyName is the name of key i of the load's key space.
func KeyName(i int) string { return fmt.Sprintf("k%02d", i) }

// Load is a running client load.
type Load struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	stats stats
}

type stats struct {
	ok, ambiguous, failed atomic.Int64
}

// StartLoad starts cfg.Clients clients, client i bound to endpoint
// i mod len(Endpoints). Each runs a random mix of PUT (unique values),
// GET and DELETE over the key space, one operation at a time, recording
// every operation in h, until Stop. A client whose node refuses
// connections moves to the next endpoint, unless cfg.Sticky.
func StartLoad(ctx context.Context, cfg LoadConfig, h *History) (*Load, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("load: no endpoints")
	}
	l := &Load{stop: make(chan struct{})}
	for i := range cfg.Clients {
		c := &client{
			id:  cfg.FirstClient + i,
			cfg: cfg,
			h:   h,
			at:  i % len(cfg.Endpoints),
			rng: rand.New(rand.NewPCG(uint64(cfg.FirstClient+i), uint64(time.Now().UnixNano()))),
		}
		c.s3 = make([]*s3.Client, len(cfg.Endpoints))
		for j, ep := range cfg.Endpoints {
			c.s3[j] = NewS3Client(ep.URL, cfg.AccessKey, cfg.SecretKey)
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c.run(ctx, l.stop, &l.stats)
		}()
	}
	return l, nil
}

// Stop ends the load: each client finishes the operation it has in
// flight (at most OpTimeout) and stops. It returns a summary.
func (l *Load) Stop() string {
	close(l.stop)
	l.wg.Wait()
	return fmt.Sprintf("%d ok, %d ambiguous, %d failed", l.stats.ok.Load(), l.stats.ambiguous.Load(), l.stats.failed.Load())
}

// NewS3Client is an aws-sdk-go-v2 client for one endpoint: path-style,
// no retries (every attempt is one recorded operation), and a buildable
// HTTP client of its own, which also keeps AWS_CA_BUNDLE (set on these
// machines) out of the way.
func NewS3Client(endpoint, accessKey, secretKey string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:     aws.String(endpoint),
		Region:           "us-east-1",
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		HTTPClient:       awshttp.NewBuildableClient(),
		RetryMaxAttempts: 1,
	})
}

type client struct {
	id  int
	cfg LoadConfig
	h   *History
	s3  []*s3.Client
	at  int // index of the endpoint in use
	rng *rand.Rand
	seq int
}

func (c *client) run(ctx context.Context, stop <-chan struct{}, st *stats) {
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		key := KeyName(c.rng.IntN(c.cfg.Keys))
		var op Op
		switch r := c.rng.IntN(100); {
		case r < 40:
			c.seq++
			op = c.do(ctx, Put, key, fmt.Sprintf("c%d-%d", c.id, c.seq))
		case r < 55:
			op = c.do(ctx, Delete, key, "")
		default:
			op = c.do(ctx, Get, key, "")
		}
		c.h.Add(op)
		switch op.Outcome {
		case OK:
			st.ok.Add(1)
		case Ambiguous:
			st.ambiguous.Add(1)
		case Failed:
			st.failed.Add(1)
		}
		if op.Outcome != OK && !c.cfg.Sticky && refused(op.Err) {
			c.at = (c.at + 1) % len(c.s3)
		}
		pause := c.cfg.Pause
		if op.Outcome != OK {
			pause = 100 * time.Millisecond // no hot loop against a dead node
		}
		select {
		case <-stop:
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// do runs one operation against the client's current endpoint and
// returns it classified.
func (c *client) do(ctx context.Context, kind Kind, key, value string) Op {
	op := Op{Client: c.id, Node: c.cfg.Endpoints[c.at].Name, Kind: kind, Key: key, Value: value}
	octx, cancel := context.WithTimeout(ctx, c.cfg.OpTimeout)
	defer cancel()
	cl := c.s3[c.at]
	op.Call = c.h.Now()
	op.Result, op.Outcome, op.Err = execute(octx, cl, c.cfg.Bucket, kind, key, value)
	op.Return = c.h.Now()
	return op
}

// execute sends one request. A write whose connection was never
// established is Failed (the node never saw it); any other write error is
// Ambiguous (it may have been committed before the answer was lost, or
// commit later). A read error leaves the read Failed: it observed nothing.
func execute(ctx context.Context, cl *s3.Client, bucket string, kind Kind, key, value string) (Register, Outcome, string) {
	var err error
	switch kind {
	case Put:
		_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: strings.NewReader(value)})
	case Delete:
		_, err = cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	case Get:
		var reg Register
		reg, err = readKey(ctx, cl, bucket, key)
		if err == nil {
			return reg, OK, ""
		}
		return Register{}, Failed, err.Error()
	}
	if err == nil {
		return Register{}, OK, ""
	}
	if notSent(err) {
		return Register{}, Failed, err.Error()
	}
	return Register{}, Ambiguous, err.Error()
}

// readKey reads key: its value, absent on NoSuchKey, or an error.
func readKey(ctx context.Context, cl *s3.Client, bucket, key string) (Register, error) {
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var nsk *s3types.NoSuchKey
	if errors.As(err, &nsk) {
		return Register{}, nil
	}
	if err != nil {
		return Register{}, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return Register{}, fmt.Errorf("read body: %w", err)
	}
	return Register{Value: string(b), Exists: true}, nil
}

// notSent reports whether err is a failure to connect: the request never
// reached the node.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// refused reports whether an error message says nothing listens at the
// node's address (process or container down), so the client should try
// another node. Timeouts and resets are not: a partitioned node is still
// there, and its clients must keep asking it.
func refused(msg string) bool {
	for _, s := range []string{"connection refused", "no route to host"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// FinalReads reads every key of the key space from every endpoint, one
// after the other, recording the reads in h (endpoint j as client first+j).
// A key that cannot be read is an error: after the cluster healed, every
// node must answer.
func FinalReads(ctx context.Context, cfg LoadConfig, h *History, first int) error {
	cfg = cfg.withDefaults()
	var errs []error
	for j, ep := range cfg.Endpoints {
		cl := NewS3Client(ep.URL, cfg.AccessKey, cfg.SecretKey)
		for i := range cfg.Keys {
			key := KeyName(i)
			if err := finalRead(ctx, cl, cfg, h, first+j, ep.Name, key); err != nil {
				errs = append(errs, fmt.Errorf("final read of %s on %s: %w", key, ep.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// finalRead reads key until it gets an answer, for at most ten attempts:
// a write cut off by the end of the load may still be finishing on the
// node, and a GET that meets it answers 503 (retry) by design.
func finalRead(ctx context.Context, cl *s3.Client, cfg LoadConfig, h *History, clientID int, node, key string) error {
	var err error
	for range 10 {
		octx, cancel := context.WithTimeout(ctx, cfg.OpTimeout)
		op := Op{Client: clientID, Node: node, Kind: Get, Key: key, Call: h.Now()}
		var reg Register
		reg, err = readKey(octx, cl, cfg.Bucket, key)
		op.Return = h.Now()
		cancel()
		if err == nil {
			op.Result, op.Outcome = reg, OK
			h.Add(op)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(300 * time.Millisecond):
		}
	}
	return err
}
