// Package s3 is the backend for any S3-compatible endpoint, through
// aws-sdk-go-v2. It streams bodies of known size without buffering or
// seeking (unsigned payload), maps S3 errors to the backend sentinels, and
// fails fast when the endpoint is down so the gateway can answer 503
// instead of hanging. It knows nothing about virtual buckets or raft.
package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/stratagw/strata/backend"
)

// DefaultRegion is used when the config names none.
const DefaultRegion = "us-east-1"

// Tuning: a dead endpoint must fail within seconds (few attempts, short
// back-off, short dial), while a slow big transfer must not be cut off
// (no overall client timeout; ctx bounds each call).
const (
	maxAttempts           = 3
	maxBackoff            = time.Second
	dialTimeout           = 5 * time.Second
	responseHeaderTimeout = 2 * time.Minute
	maxIdleConnsPerHost   = 256
)

// Backend is one S3 account at one endpoint and region.
type Backend struct {
	client *awss3.Client
	region string
	name   string // endpoint and key for error messages; never the secret
}

var _ backend.Backend = (*Backend)(nil)

// New builds a client for cfg. Nothing from ~/.aws, AWS_PROFILE or the EC2
// metadata service is used: region, endpoint and credentials come only from
// cfg. AWS_CA_BUNDLE is honoured for https endpoints.
func New(ctx context.Context, cfg backend.Config) (*Backend, error) {
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, fmt.Errorf("s3 backend %s: access key and secret key are required", cfg)
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3 backend: endpoint %q must be an http:// or https:// URL", cfg.Endpoint)
		}
	}
	region := cfg.Region
	if region == "" {
		region = DefaultRegion
	}
	httpClient, err := newHTTPClient()
	if err != nil {
		return nil, fmt.Errorf("s3 backend %s: %w", cfg, err)
	}
	// The aws.Config is built by hand rather than by LoadDefaultConfig:
	// that one also reads AWS_PROFILE, ~/.aws and AWS_ENDPOINT_URL*, and
	// fails outright when AWS_PROFILE names a profile that is not there.
	awsCfg := aws.Config{
		Region:                     region,
		Credentials:                aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")),
		HTTPClient:                 httpClient,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.MaxBackoff = maxBackoff
				// No client-wide retry quota: one bad minute must not
				// turn every later request into an instant failure.
				o.RateLimiter = ratelimit.None
			})
		},
	}
	client := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	return &Backend{client: client, region: region, name: cfg.String()}, nil
}

// newHTTPClient builds the SDK's buildable client (the type the SDK
// expects to be able to tune) with short dials, a large idle pool and the
// AWS_CA_BUNDLE roots added to the system ones.
func newHTTPClient() (*awshttp.BuildableClient, error) {
	roots, err := caRoots(os.Getenv("AWS_CA_BUNDLE"))
	if err != nil {
		return nil, err
	}
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = dialTimeout
			d.Control = resetOnClose
		}).
		WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = maxIdleConnsPerHost
			t.MaxIdleConnsPerHost = maxIdleConnsPerHost
			t.ResponseHeaderTimeout = responseHeaderTimeout
			if roots != nil {
				if t.TLSClientConfig == nil {
					t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
				}
				t.TLSClientConfig.RootCAs = roots
			}
		}), nil
}

// caRoots returns the system roots plus the PEM bundle at path, or nil
// when path is empty.
func caRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("AWS_CA_BUNDLE: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("AWS_CA_BUNDLE %s: no PEM certificates found", path)
	}
	return pool, nil
}

// Regions returns the configured region.
func (b *Backend) Regions() []string { return []string{b.region} }

// Check lists buckets to prove the endpoint answers and the keys work.
func (b *Backend) Check(ctx context.Context) error {
	_, err := b.client.ListBuckets(ctx, &awss3.ListBucketsInput{})
	return b.wrap(ctx, "check", "", "", err)
}

// Close implements backend.Backend. Idle connections close themselves
// after the transport's idle timeout; nothing else is held.
func (b *Backend) Close() error { return nil }

// wrap adds context to err and maps it onto the backend sentinels. The
// original error stays in the chain.
func (b *Backend) wrap(ctx context.Context, op, bucket, key string, err error) error {
	if err == nil {
		return nil
	}
	where := "s3 " + op
	if bucket != "" {
		where += " " + bucket
		if key != "" {
			where += "/" + key
		}
	}
	where += " (" + b.name + ")"
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if sentinel := classify(err); sentinel != nil {
		return fmt.Errorf("%s: %w: %w", where, sentinel, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// classify maps an SDK error to a backend sentinel, or nil.
func classify(err error) error {
	code, status := "", 0
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch code {
	case "NoSuchBucket", "NoSuchKey", "NoSuchUpload", "NotFound":
		return backend.ErrNotFound
	case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
		return backend.ErrBucketExists
	case "BucketNotEmpty":
		return backend.ErrBucketNotEmpty
	case "PreconditionFailed":
		return backend.ErrPreconditionFailed
	case "InvalidPart", "InvalidPartOrder":
		return backend.ErrInvalidPart
	case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout":
		return backend.ErrUnavailable
	}
	switch {
	case status == http.StatusNotFound:
		return backend.ErrNotFound
	case status == http.StatusPreconditionFailed:
		return backend.ErrPreconditionFailed
	case status >= 500:
		return backend.ErrUnavailable
	case status == 0 && !isClientSide(err):
		// No HTTP response at all: refused, reset, DNS, timeout.
		return backend.ErrUnavailable
	}
	return nil
}

// isCode reports whether err is an S3 error with that code.
func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// isClientSide reports errors raised before anything was sent (invalid
// parameters, serialization), which say nothing about availability.
func isClientSide(err error) bool {
	var ip smithy.InvalidParamsError
	var se *smithy.SerializationError
	return errors.As(err, &ip) || errors.As(err, &se)
}

// etag strips the quotes S3 puts around ETags.
func etag(s *string) string {
	return strings.Trim(aws.ToString(s), `"`)
}

// quote puts them back for If-Match and part lists.
func quote(s string) string {
	return `"` + strings.Trim(s, `"`) + `"`
}

// copySource builds x-amz-copy-source: bucket and URL-encoded key, with the
// key's slashes kept.
func copySource(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return bucket + "/" + strings.Join(segs, "/")
}
