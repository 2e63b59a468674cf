package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// makeBucket creates a bucket through strata (in the bench region) and one
// directly on versitygw, and returns both names.
func (e *env) makeBuckets(ctx context.Context, name string) (direct, through string, err error) {
	through = name
	if _, err = e.through.CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket: aws.String(through),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(benchRegion),
		},
	}); err != nil {
		return "", "", fmt.Errorf("create bucket via strata: %w", err)
	}
	direct = "direct-" + name
	if _, err = e.direct.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(direct)}); err != nil {
		return "", "", fmt.Errorf("create bucket on backend: %w", err)
	}
	return direct, through, nil
}

// backingBucket finds the backend bucket strata created for a virtual bucket.
func (e *env) backingBucket(ctx context.Context, virtual string) (string, error) {
	out, err := e.direct.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return "", err
	}
	for _, b := range out.Buckets {
		if strings.HasPrefix(aws.ToString(b.Name), virtual+"-") {
			return aws.ToString(b.Name), nil
		}
	}
	return "", fmt.Errorf("no backing bucket for %s", virtual)
}

// benchLargeThroughput measures sequential PUT and GET of size-byte objects.
func benchLargeThroughput(ctx context.Context, e *env, size int64, iters int) (put, get result, err error) {
	directB, throughB, err := e.makeBuckets(ctx, "large")
	if err != nil {
		return put, get, err
	}
	payload := bytes.Repeat([]byte("strata-bench-0123456789abcdef\n"), int(size/30)+1)[:size]
	mbps := func(d time.Duration) float64 { return float64(size) * float64(iters) / d.Seconds() / (1 << 20) }
	run := func(c *s3.Client, bucket string) (time.Duration, time.Duration, error) {
		start := time.Now()
		for i := 0; i < iters; i++ {
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("obj-%d", i)),
				Body: bytes.NewReader(payload), ContentLength: aws.Int64(size)}); err != nil {
				return 0, 0, fmt.Errorf("put: %w", err)
			}
		}
		putD := time.Since(start)
		start = time.Now()
		for i := 0; i < iters; i++ {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("obj-%d", i))})
			if err != nil {
				return 0, 0, fmt.Errorf("get: %w", err)
			}
			n, err := io.Copy(io.Discard, out.Body)
			out.Body.Close()
			if err != nil || n != size {
				return 0, 0, fmt.Errorf("get: %d bytes, %v", n, err)
			}
		}
		return putD, time.Since(start), nil
	}
	// Alternate direct and strata rounds so drift on a shared machine
	// (other processes, page cache, thermal) hits both sides alike.
	var dp, dg, tp, tg time.Duration
	const rounds = 3
	for r := 0; r < rounds; r++ {
		p, g, err := run(e.direct, directB)
		if err != nil {
			return put, get, fmt.Errorf("direct: %w", err)
		}
		dp, dg = dp+p, dg+g
		p, g, err = run(e.through, throughB)
		if err != nil {
			return put, get, fmt.Errorf("through strata: %w", err)
		}
		tp, tg = tp+p, tg+g
	}
	iters *= rounds
	label := fmt.Sprintf("%d MiB", size>>20)
	put = result{Name: label + " PUT throughput", Unit: "MiB/s", Direct: mbps(dp), Strata: mbps(tp), Target: "ratio >= 0.9",
		Note: fmt.Sprintf("%d sequential PUTs, seekable body (SDK signs the payload hash)", iters)}
	get = result{Name: label + " GET throughput", Unit: "MiB/s", Direct: mbps(dg), Strata: mbps(tg), Target: "ratio >= 0.9"}
	return put, get, nil
}

// benchSmallPuts measures 4 KiB PUT ops/s with conc concurrent clients.
func benchSmallPuts(ctx context.Context, e *env, size, conc int, d time.Duration) (result, error) {
	directB, throughB, err := e.makeBuckets(ctx, "small")
	if err != nil {
		return result{}, err
	}
	payload := bytes.Repeat([]byte("x"), size)
	run := func(c *s3.Client, bucket string) (float64, error) {
		var ops atomic.Int64
		var firstErr error
		var once sync.Once
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		for w := 0; w < conc; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; time.Now().Before(deadline); i++ {
					_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("w%02d/%08d", w, i)),
						Body: bytes.NewReader(payload), ContentLength: aws.Int64(int64(size))})
					if err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					ops.Add(1)
				}
			}(w)
		}
		start := time.Now()
		wg.Wait()
		if firstErr != nil {
			return 0, firstErr
		}
		return float64(ops.Load()) / time.Since(start).Seconds(), nil
	}
	direct, err := run(e.direct, directB)
	if err != nil {
		return result{}, fmt.Errorf("direct: %w", err)
	}
	through, err := run(e.through, throughB)
	if err != nil {
		return result{}, fmt.Errorf("through strata: %w", err)
	}
	return result{Name: fmt.Sprintf("%d KiB PUT, concurrency %d", size>>10, conc), Unit: "ops/s", Direct: direct, Strata: through,
		Target: "report the ratio", Note: fmt.Sprintf("%v per side", d)}, nil
}

// benchListing fills a bucket through strata (so the backing bucket holds the
// same keys) and lists it in 1,000-key pages both ways.
func benchListing(ctx context.Context, e *env, keys int) (result, error) {
	_, throughB, err := e.makeBuckets(ctx, "listing")
	if err != nil {
		return result{}, err
	}
	log.Printf("listing: writing %d objects through strata", keys)
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(keys) {
					return
				}
				_, err := e.through.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(throughB), Key: aws.String(fmt.Sprintf("dir%02d/obj-%07d", i%10, i)),
					Body: bytes.NewReader([]byte("x")), ContentLength: aws.Int64(1)})
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return result{}, fmt.Errorf("fill: %w", firstErr)
	}
	backing, err := e.backingBucket(ctx, throughB)
	if err != nil {
		return result{}, err
	}
	list := func(c *s3.Client, bucket string) (float64, int, error) {
		start := time.Now()
		pages, n := 0, 0
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(1000)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return 0, 0, err
			}
			pages++
			n += len(out.Contents)
		}
		return float64(pages) / time.Since(start).Seconds(), n, nil
	}
	direct, dn, err := list(e.direct, backing)
	if err != nil {
		return result{}, fmt.Errorf("direct list: %w", err)
	}
	through, tn, err := list(e.through, throughB)
	if err != nil {
		return result{}, fmt.Errorf("strata list: %w", err)
	}
	if dn != keys || tn != keys {
		return result{}, fmt.Errorf("listing counted %d (direct) and %d (strata), want %d", dn, tn, keys)
	}
	return result{Name: fmt.Sprintf("ListObjectsV2 1000-key pages, %d objects", keys), Unit: "pages/s", Direct: direct, Strata: through,
		Target: "ratio > 1 (faster than the backend)"}, nil
}

// genReader yields n deterministic bytes without holding them in memory.
type genReader struct {
	left int64
	buf  []byte
}

func newGenReader(n int64) *genReader {
	return &genReader{left: n, buf: bytes.Repeat([]byte("0123456789abcdef"), 4096)}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n := copy(p, g.buf)
	g.left -= int64(n)
	return n, nil
}

// benchRSS measures strata's peak RSS above idle during one streaming PUT of
// size bytes and one multipart upload of size bytes with 4 parts in flight.
func benchRSS(ctx context.Context, e *env, size int64) ([]result, error) {
	_, throughB, err := e.makeBuckets(ctx, "rss")
	if err != nil {
		return nil, err
	}
	time.Sleep(2 * time.Second)
	idle, err := rssKiB(e.strataPID())
	if err != nil {
		return nil, err
	}
	var out []result
	label := fmt.Sprintf("%.0f GiB", float64(size)/(1<<30))

	s := sampleRSS(e.strataPID(), 50*time.Millisecond)
	start := time.Now()
	_, err = e.through.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(throughB), Key: aws.String("stream"),
		Body: newGenReader(size), ContentLength: aws.Int64(size)},
		// A non-seekable body over plain HTTP cannot be hashed up front:
		// send it as UNSIGNED-PAYLOAD, as streaming clients do.
		s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	peak := s.stop()
	if err != nil {
		return nil, fmt.Errorf("streaming put: %w", err)
	}
	out = append(out, result{Name: "peak RSS above idle, " + label + " streaming PUT", Unit: "MiB", Strata: float64(peak-idle) / 1024,
		Target: "< 128 MiB", Note: fmt.Sprintf("idle %d MiB, peak %d MiB, %.0f MiB/s", idle/1024, peak/1024, float64(size)/(1<<20)/time.Since(start).Seconds())})
	if _, err := e.through.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(throughB), Key: aws.String("stream")}); err != nil {
		return nil, err
	}

	idle, _ = rssKiB(e.strataPID())
	//lint:ignore SA1019 manager.Uploader is what most Go clients still use to upload; it is the realistic load
	up := manager.NewUploader(e.through, func(u *manager.Uploader) {
		u.PartSize = 64 << 20
		u.Concurrency = 4
	})
	s = sampleRSS(e.strataPID(), 50*time.Millisecond)
	start = time.Now()
	//lint:ignore SA1019 see above
	_, err = up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String(throughB), Key: aws.String("multipart"), Body: newGenReader(size)})
	peak = s.stop()
	if err != nil {
		return nil, fmt.Errorf("multipart upload: %w", err)
	}
	out = append(out, result{Name: "peak RSS above idle, " + label + " multipart (4 parts in flight)", Unit: "MiB", Strata: float64(peak-idle) / 1024,
		Target: "< 128 MiB", Note: fmt.Sprintf("64 MiB parts; idle %d MiB, peak %d MiB, %.0f MiB/s", idle/1024, peak/1024, float64(size)/(1<<20)/time.Since(start).Seconds())})
	_, _ = e.through.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(throughB), Key: aws.String("multipart")})
	return out, nil
}
