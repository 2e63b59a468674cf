package gateway_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BenchmarkObject64MiB measures a 64 MiB PUT and GET through the gateway on
// the fs backend (bench/ compares strata with the backend directly).
func BenchmarkObject64MiB(b *testing.B) {
	s := newStack(b, stackOptions{})
	s.createBucket("bench", "")
	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20)
	ctx := context.Background()
	b.Run("put", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String("obj"), Body: bytes.NewReader(data)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String("obj")})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, out.Body); err != nil {
				b.Fatal(err)
			}
			out.Body.Close()
		}
	})
}
