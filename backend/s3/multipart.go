package s3

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stratagw/strata/backend"
)

// CreateMultipart starts a native multipart upload carrying meta.
func (b *Backend) CreateMultipart(ctx context.Context, bucket, key string, meta backend.Meta) (string, error) {
	out, err := b.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{
		Bucket:             aws.String(bucket),
		Key:                aws.String(key),
		ContentType:        nonEmpty(meta.ContentType),
		ContentEncoding:    nonEmpty(meta.ContentEncoding),
		ContentDisposition: nonEmpty(meta.ContentDisposition),
		ContentLanguage:    nonEmpty(meta.ContentLanguage),
		CacheControl:       nonEmpty(meta.CacheControl),
		Metadata:           meta.User,
	}, withExpires(meta.Expires))
	if err != nil {
		return "", b.wrap(ctx, "create multipart", bucket, key, err)
	}
	return aws.ToString(out.UploadId), nil
}

// UploadPart streams exactly size bytes as part n (unsigned payload).
func (b *Backend) UploadPart(ctx context.Context, bucket, key, uploadID string, n int, r io.Reader, size int64) (string, error) {
	if size < 0 {
		return "", fmt.Errorf("s3 upload part %d of %s/%s: negative size %d", n, bucket, key, size)
	}
	bd := newBody(r, size)
	out, err := b.client.UploadPart(ctx, &awss3.UploadPartInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		UploadId:      aws.String(uploadID),
		PartNumber:    aws.Int32(int32(n)),
		Body:          bd,
		ContentLength: aws.Int64(size),
	}, unsignedPayload)
	if err != nil {
		if berr := bd.failure(); berr != nil {
			return "", fmt.Errorf("s3 upload part %d of %s/%s: %w", n, bucket, key, berr)
		}
		return "", b.wrap(ctx, fmt.Sprintf("upload part %d of", n), bucket, key, err)
	}
	return etag(out.ETag), nil
}

// UploadPartCopy copies a range of srcBucket/srcKey into part n,
// server-side.
func (b *Backend) UploadPartCopy(ctx context.Context, bucket, key, uploadID string, n int, srcBucket, srcKey string, rng *backend.Range) (string, error) {
	in := &awss3.UploadPartCopyInput{
		Bucket:     aws.String(bucket),
		Key:        aws.String(key),
		UploadId:   aws.String(uploadID),
		PartNumber: aws.Int32(int32(n)),
		CopySource: aws.String(copySource(srcBucket, srcKey)),
	}
	if rng != nil {
		in.CopySourceRange = aws.String(fmt.Sprintf("bytes=%d-%d", rng.Start, rng.End))
	}
	out, err := b.client.UploadPartCopy(ctx, in)
	if err != nil {
		return "", b.wrap(ctx, fmt.Sprintf("upload part copy %d from %s/%s to", n, srcBucket, srcKey), bucket, key, err)
	}
	if out.CopyPartResult == nil {
		return "", fmt.Errorf("s3 upload part copy %d of %s/%s: response without CopyPartResult", n, bucket, key)
	}
	return etag(out.CopyPartResult.ETag), nil
}

// CompleteMultipart completes the native upload (the backend assembles the
// parts; nothing passes through strata) and reads back the object.
func (b *Backend) CompleteMultipart(ctx context.Context, bucket, key, uploadID string, parts []backend.CompletedPart) (backend.ObjectInfo, error) {
	if len(parts) == 0 {
		return backend.ObjectInfo{}, fmt.Errorf("s3 complete multipart %s/%s: no parts: %w", bucket, key, backend.ErrInvalidPart)
	}
	cps := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		cps[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: aws.String(quote(p.ETag))}
	}
	_, err := b.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
		Bucket:          aws.String(bucket),
		Key:             aws.String(key),
		UploadId:        aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: cps},
	})
	if err != nil {
		return backend.ObjectInfo{}, b.wrap(ctx, "complete multipart", bucket, key, err)
	}
	return b.HeadObject(ctx, bucket, key)
}

// AbortMultipart discards the native upload.
func (b *Backend) AbortMultipart(ctx context.Context, bucket, key, uploadID string) error {
	_, err := b.client.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{
		Bucket:   aws.String(bucket),
		Key:      aws.String(key),
		UploadId: aws.String(uploadID),
	})
	return b.wrap(ctx, "abort multipart", bucket, key, err)
}
