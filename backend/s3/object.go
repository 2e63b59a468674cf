package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stratagw/strata/backend"
)

// CreateBucket creates bucket, with a LocationConstraint unless region is
// us-east-1 (which S3 refuses as a constraint).
func (b *Backend) CreateBucket(ctx context.Context, region, bucket string) error {
	in := &awss3.CreateBucketInput{Bucket: aws.String(bucket)}
	if region == "" {
		region = b.region
	}
	if region != DefaultRegion {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(region),
		}
	}
	_, err := b.client.CreateBucket(ctx, in)
	return b.wrap(ctx, "create bucket", bucket, "", err)
}

// DeleteBucket deletes an empty bucket.
func (b *Backend) DeleteBucket(ctx context.Context, bucket string) error {
	_, err := b.client.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String(bucket)})
	return b.wrap(ctx, "delete bucket", bucket, "", err)
}

// ListBuckets lists every bucket the credentials can see.
func (b *Backend) ListBuckets(ctx context.Context) ([]string, error) {
	var names []string
	p := awss3.NewListBucketsPaginator(b.client, &awss3.ListBucketsInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, b.wrap(ctx, "list buckets", "", "", err)
		}
		for _, bk := range out.Buckets {
			names = append(names, aws.ToString(bk.Name))
		}
	}
	return names, nil
}

// body wraps a caller's reader so that exactly size bytes are sent (never
// more, even if the SDK retries with a half-read stream) and so that a
// failure of the caller's reader is reported as such, not as the backend
// being unavailable.
type body struct {
	r    io.Reader
	n    int64
	size int64
	err  error
}

func newBody(r io.Reader, size int64) *body {
	return &body{r: io.LimitReader(r, size), size: size}
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if errors.Is(err, io.EOF) && b.n < b.size {
		// A clean EOF would let the HTTP client end the request in a
		// way some servers (versitygw) accept as a complete, shorter
		// object; an error makes the client abort the request.
		err = io.ErrUnexpectedEOF
	}
	if err != nil && !errors.Is(err, io.EOF) && b.err == nil {
		b.err = err
	}
	return n, err
}

// failure explains a failed upload from the body's side, or returns nil
// when the body was fine and the backend is to blame.
func (b *body) failure() error {
	if b.err != nil {
		return fmt.Errorf("reading body after %d of %d bytes: %w", b.n, b.size, b.err)
	}
	return nil
}

// unsignedPayload lets the SDK stream a body it cannot seek or hash
// up front.
func unsignedPayload(o *awss3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// withExpires sends Expires verbatim (the SDK's field only takes a
// time, the stored value is whatever the client sent).
func withExpires(v string) func(*awss3.Options) {
	return func(o *awss3.Options) {
		if v != "" {
			o.APIOptions = append(o.APIOptions, smithyhttp.SetHeaderValue("Expires", v))
		}
	}
}

// PutObject streams exactly size bytes from r (unsigned payload, no
// buffering). A failing or short reader aborts the request, so the server
// stores nothing.
func (b *Backend) PutObject(ctx context.Context, bucket, key string, r io.Reader, size int64, meta backend.Meta) (backend.ObjectInfo, error) {
	if size < 0 {
		return backend.ObjectInfo{}, fmt.Errorf("s3 put %s/%s: negative size %d", bucket, key, size)
	}
	bd := newBody(r, size)
	in := &awss3.PutObjectInput{
		Bucket:             aws.String(bucket),
		Key:                aws.String(key),
		Body:               bd,
		ContentLength:      aws.Int64(size),
		ContentType:        nonEmpty(meta.ContentType),
		ContentEncoding:    nonEmpty(meta.ContentEncoding),
		ContentDisposition: nonEmpty(meta.ContentDisposition),
		ContentLanguage:    nonEmpty(meta.ContentLanguage),
		CacheControl:       nonEmpty(meta.CacheControl),
		Metadata:           meta.User,
	}
	out, err := b.client.PutObject(ctx, in, unsignedPayload, withExpires(meta.Expires))
	if err != nil {
		if berr := bd.failure(); berr != nil {
			return backend.ObjectInfo{}, fmt.Errorf("s3 put %s/%s: %w", bucket, key, berr)
		}
		return backend.ObjectInfo{}, b.wrap(ctx, "put", bucket, key, err)
	}
	// S3 answers with the ETag only; the time is close enough for the
	// caller's record (the backend's own time is in HeadObject).
	return backend.ObjectInfo{Key: key, Size: size, ETag: etag(out.ETag), ModTime: time.Now().UTC(), Meta: meta}, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// GetObject opens bucket/key, optionally a range, guarded by If-Match.
func (b *Backend) GetObject(ctx context.Context, bucket, key string, rng *backend.Range, ifMatch string) (io.ReadCloser, backend.ObjectInfo, error) {
	in := &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if rng != nil {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", rng.Start, rng.End))
	}
	if ifMatch != "" {
		in.IfMatch = aws.String(quote(ifMatch))
	}
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		return nil, backend.ObjectInfo{}, b.wrap(ctx, "get", bucket, key, err)
	}
	size := aws.ToInt64(out.ContentLength)
	if rng != nil {
		total, err := rangeTotal(aws.ToString(out.ContentRange))
		if err != nil {
			out.Body.Close()
			return nil, backend.ObjectInfo{}, fmt.Errorf("s3 get %s/%s: %w", bucket, key, err)
		}
		size = total
	}
	info := backend.ObjectInfo{
		Key: key, Size: size, ETag: etag(out.ETag), ModTime: aws.ToTime(out.LastModified),
		Meta: backend.Meta{
			ContentType:        aws.ToString(out.ContentType),
			ContentEncoding:    aws.ToString(out.ContentEncoding),
			ContentDisposition: aws.ToString(out.ContentDisposition),
			ContentLanguage:    aws.ToString(out.ContentLanguage),
			CacheControl:       aws.ToString(out.CacheControl),
			Expires:            aws.ToString(out.ExpiresString),
			User:               lowerKeys(out.Metadata),
		},
	}
	return out.Body, info, nil
}

// rangeTotal extracts the object size from "bytes 0-9/1234".
func rangeTotal(contentRange string) (int64, error) {
	i := strings.LastIndexByte(contentRange, '/')
	if i < 0 {
		return 0, fmt.Errorf("malformed Content-Range %q", contentRange)
	}
	n, err := strconv.ParseInt(contentRange[i+1:], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("malformed Content-Range %q: %w", contentRange, err)
	}
	return n, nil
}

func lowerKeys(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// HeadObject describes bucket/key.
func (b *Backend) HeadObject(ctx context.Context, bucket, key string) (backend.ObjectInfo, error) {
	out, err := b.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return backend.ObjectInfo{}, b.wrap(ctx, "head", bucket, key, err)
	}
	return backend.ObjectInfo{
		Key: key, Size: aws.ToInt64(out.ContentLength), ETag: etag(out.ETag), ModTime: aws.ToTime(out.LastModified),
		Meta: backend.Meta{
			ContentType:        aws.ToString(out.ContentType),
			ContentEncoding:    aws.ToString(out.ContentEncoding),
			ContentDisposition: aws.ToString(out.ContentDisposition),
			ContentLanguage:    aws.ToString(out.ContentLanguage),
			CacheControl:       aws.ToString(out.CacheControl),
			Expires:            aws.ToString(out.ExpiresString),
			User:               lowerKeys(out.Metadata),
		},
	}, nil
}

// DeleteObject deletes bucket/key; a missing key succeeds (a missing
// bucket is ErrNotFound).
func (b *Backend) DeleteObject(ctx context.Context, bucket, key string) error {
	_, err := b.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil && isCode(err, "NoSuchKey") {
		return nil
	}
	return b.wrap(ctx, "delete", bucket, key, err)
}

// CopyObject copies server-side (x-amz-copy-source) with metadata
// directive REPLACE, then reads back the result's size and time.
func (b *Backend) CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, meta backend.Meta) (backend.ObjectInfo, error) {
	_, err := b.client.CopyObject(ctx, &awss3.CopyObjectInput{
		Bucket:             aws.String(dstBucket),
		Key:                aws.String(dstKey),
		CopySource:         aws.String(copySource(srcBucket, srcKey)),
		MetadataDirective:  types.MetadataDirectiveReplace,
		ContentType:        nonEmpty(meta.ContentType),
		ContentEncoding:    nonEmpty(meta.ContentEncoding),
		ContentDisposition: nonEmpty(meta.ContentDisposition),
		ContentLanguage:    nonEmpty(meta.ContentLanguage),
		CacheControl:       nonEmpty(meta.CacheControl),
		Metadata:           meta.User,
	}, withExpires(meta.Expires))
	if err != nil {
		return backend.ObjectInfo{}, b.wrap(ctx, "copy from "+srcBucket+"/"+srcKey+" to", dstBucket, dstKey, err)
	}
	return b.HeadObject(ctx, dstBucket, dstKey)
}

// ListObjects lists via ListObjectsV2 with StartAfter. Listings carry no
// metadata (S3 does not return it).
func (b *Backend) ListObjects(ctx context.Context, bucket, prefix, after string, max int) ([]backend.ObjectInfo, bool, error) {
	if max <= 0 {
		max = 1000
	}
	in := &awss3.ListObjectsV2Input{
		Bucket:  aws.String(bucket),
		MaxKeys: aws.Int32(int32(min(max, 1000))),
	}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if after != "" {
		in.StartAfter = aws.String(after)
	}
	out, err := b.client.ListObjectsV2(ctx, in)
	if err != nil {
		return nil, false, b.wrap(ctx, "list", bucket, "", err)
	}
	objs := make([]backend.ObjectInfo, 0, len(out.Contents))
	for _, o := range out.Contents {
		objs = append(objs, backend.ObjectInfo{
			Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: etag(o.ETag), ModTime: aws.ToTime(o.LastModified),
		})
	}
	return objs, aws.ToBool(out.IsTruncated), nil
}
