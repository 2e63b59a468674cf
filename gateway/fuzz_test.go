package gateway

import (
	"errors"
	"testing"
	"time"
)

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-4", "bytes=-3", "bytes=5-", "bytes=0-1,2-3", "bytes=", "bytes=-", "bytes=9223372036854775807-"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		r, err := parseRange(h, size)
		if err != nil {
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != ErrInvalidRange {
				t.Fatalf("parseRange(%q, %d): error %v is not InvalidRange", h, size, err)
			}
			return
		}
		if r != nil && (r.Start < 0 || r.End < r.Start || r.End >= size) {
			t.Fatalf("parseRange(%q, %d) = %+v: outside the object", h, size, *r)
		}
	})
}

func FuzzCreateBucketConfiguration(f *testing.F) {
	f.Add([]byte(`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-1</LocationConstraint></CreateBucketConfiguration>`))
	f.Add([]byte(``))
	f.Add([]byte(`<Other/>`))
	f.Add([]byte(`<CreateBucketConfiguration><LocationConstraint>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := parseCreateBucketConfiguration(data)
		if err != nil {
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != ErrMalformedXML {
				t.Fatalf("error %v is not MalformedXML", err)
			}
		}
	})
}

func FuzzDeleteRequest(f *testing.F) {
	f.Add([]byte(`<Delete><Quiet>true</Quiet><Object><Key>a</Key></Object><Object><Key>b</Key><VersionId>null</VersionId></Object></Delete>`))
	f.Add([]byte(`<Delete></Delete>`))
	f.Add([]byte(`<Delete><Object><Key>&lt;</Key></Object>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseDeleteRequest(data)
		if err != nil {
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != ErrMalformedXML {
				t.Fatalf("error %v is not MalformedXML", err)
			}
			return
		}
		if len(d.Objects) == 0 || len(d.Objects) > maxDeleteObjects {
			t.Fatalf("accepted %d objects", len(d.Objects))
		}
	})
}

func FuzzParseCopySource(f *testing.F) {
	for _, s := range []string{"b/k", "/b/dir/k%20x", "b/k?versionId=null", "b/k?versionId=v1", "%", "b/%zz", "/b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		b, k, err := parseCopySource(v)
		if err != nil {
			var ae *APIError
			if !errors.As(err, &ae) || (ae.Code != ErrInvalidArgument && ae.Code != ErrNotImplemented) {
				t.Fatalf("parseCopySource(%q): unexpected error %v", v, err)
			}
			return
		}
		if b == "" || k == "" {
			t.Fatalf("parseCopySource(%q) = %q, %q: empty part accepted", v, b, k)
		}
	})
}

func FuzzConditions(f *testing.F) {
	f.Add(`"abc"`, `*`, "Mon, 02 Jan 2006 15:04:05 GMT", "garbage")
	f.Fuzz(func(t *testing.T, ifMatch, ifNoneMatch, ims, ius string) {
		c := conditions{ifMatch: ifMatch, ifNoneMatch: ifNoneMatch, ifModifiedSince: ims, ifUnmodifiedSince: ius}
		switch c.evaluate("abc", time.Unix(1e9, 0)) {
		case condOK, condNotModified, condPrecondition:
		default:
			t.Fatal("unknown outcome")
		}
	})
}
