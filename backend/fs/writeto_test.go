package fs_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stratagw/strata/backend"
	"github.com/stratagw/strata/backend/fs"
)

// TestGetObjectWriteTo: the sendfile-friendly WriteTo path yields exactly
// the bytes Read does, for whole objects, ranges and after a partial read.
func TestGetObjectWriteTo(t *testing.T) {
	ctx := context.Background()
	b, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreateBucket(ctx, "local", "bkt"); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if _, err := b.PutObject(ctx, "bkt", "k", bytes.NewReader(data), int64(len(data)), backend.Meta{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		rng      *backend.Range
		readHead int // bytes read with Read before WriteTo
		want     []byte
	}{
		{"whole", nil, 0, data},
		{"range", &backend.Range{Start: 1000, End: 200000}, 0, data[1000:200001]},
		{"last byte", &backend.Range{Start: int64(len(data) - 1), End: int64(len(data) - 1)}, 0, data[len(data)-1:]},
		{"after partial read", &backend.Range{Start: 10, End: 99999}, 500, data[510:100000]},
		{"fully read", &backend.Range{Start: 0, End: 9}, 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, _, err := b.GetObject(ctx, "bkt", "k", tt.rng, "")
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if tt.readHead > 0 {
				if _, err := io.ReadFull(rc, make([]byte, tt.readHead)); err != nil {
					t.Fatal(err)
				}
			}
			wt, ok := rc.(io.WriterTo)
			if !ok {
				t.Fatal("fs GetObject body does not implement io.WriterTo")
			}
			var out bytes.Buffer
			n, err := wt.WriteTo(&out)
			if err != nil || n != int64(len(tt.want)) || !bytes.Equal(out.Bytes(), tt.want) {
				t.Fatalf("WriteTo = %d, %v; got %d bytes, want %d", n, err, out.Len(), len(tt.want))
			}
			if rest, err := io.ReadAll(rc); err != nil || len(rest) != 0 {
				t.Fatalf("after WriteTo, Read gave %d bytes, %v", len(rest), err)
			}
		})
	}
}
