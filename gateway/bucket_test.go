package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// backendCase runs a test body against the fs backend (the default region)
// and against a real versitygw behind an s3 backend.
type backendCase struct {
	name  string
	setup func(s *stack) (region string)
}

var backendCases = []backendCase{
	{"fs", func(*stack) string { return "" }},
	{"s3", func(s *stack) string { _, r := s.addVersitygwBackend("vgw"); return r }},
}

func TestBucketLifecycle(t *testing.T) {
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{})
			region := bc.setup(s)
			ctx := context.Background()
			s.createBucket("photos", region)

			rec, ok, err := s.srv.State().Bucket("photos")
			if err != nil || !ok {
				t.Fatalf("bucket record: %v %v", ok, err)
			}
			be, backingName := s.backing("photos")
			if len(backingName) != len("photos")+11 || backingName[:7] != "photos-" {
				t.Errorf("backing bucket name %q is not <name>-<10 chars>", backingName)
			}
			if names, err := be.ListBuckets(ctx); err != nil || !contains(names, backingName) {
				t.Errorf("backing bucket %s not on the backend (%v, %v)", backingName, names, err)
			}

			if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("photos")}); err != nil {
				t.Errorf("HeadBucket: %v", err)
			}
			loc, err := s.client.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("photos")})
			if err != nil || string(loc.LocationConstraint) != rec.Region {
				t.Errorf("GetBucketLocation = %v, %v; want %s", loc, err, rec.Region)
			}
			_, err = s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("photos")})
			if code := errorCode(err); code != "BucketAlreadyOwnedByYou" {
				t.Errorf("second CreateBucket: %s", code)
			}
			s.createBucket("albums", region)
			list, err := s.client.ListBuckets(ctx, &s3.ListBucketsInput{})
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Buckets) != 2 || aws.ToString(list.Buckets[0].Name) != "albums" || aws.ToString(list.Buckets[1].Name) != "photos" {
				t.Errorf("ListBuckets = %+v", list.Buckets)
			}
			if list.Owner == nil || aws.ToString(list.Owner.ID) == "" {
				t.Errorf("ListBuckets owner missing")
			}
			page, err := s.client.ListBuckets(ctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(1)})
			if err != nil || len(page.Buckets) != 1 || aws.ToString(page.Buckets[0].Name) != "albums" || page.ContinuationToken == nil {
				t.Fatalf("ListBuckets page 1: %+v %v", page, err)
			}
			page, err = s.client.ListBuckets(ctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(1), ContinuationToken: page.ContinuationToken})
			if err != nil || len(page.Buckets) != 1 || aws.ToString(page.Buckets[0].Name) != "photos" || page.ContinuationToken != nil {
				t.Errorf("ListBuckets page 2: %+v %v", page, err)
			}
			page, err = s.client.ListBuckets(ctx, &s3.ListBucketsInput{Prefix: aws.String("ph"), BucketRegion: aws.String(rec.Region)})
			if err != nil || len(page.Buckets) != 1 || aws.ToString(page.Buckets[0].Name) != "photos" || aws.ToString(page.Buckets[0].BucketRegion) != rec.Region {
				t.Errorf("ListBuckets prefix+region: %+v %v", page, err)
			}

			s.put("photos", "a.jpg", []byte("x"))
			_, err = s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")})
			if code := errorCode(err); code != "BucketNotEmpty" {
				t.Errorf("DeleteBucket non-empty: %s", code)
			}
			if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String("a.jpg")}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")}); err != nil {
				t.Fatalf("DeleteBucket: %v", err)
			}
			if names, err := be.ListBuckets(ctx); err != nil || contains(names, backingName) {
				t.Errorf("backing bucket %s still on the backend (%v, %v)", backingName, names, err)
			}
			_, err = s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("photos")})
			var nf *s3types.NotFound
			if !errors.As(err, &nf) {
				t.Errorf("HeadBucket after delete: %v", err)
			}
			_, err = s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")})
			if code := errorCode(err); code != "NoSuchBucket" {
				t.Errorf("DeleteBucket twice: %s", code)
			}
		})
	}
}

func TestCreateBucketRegions(t *testing.T) {
	s := newStack(t, stackOptions{})
	_, vgwRegion := s.addVersitygwBackend("vgw")
	ctx := context.Background()

	// Two regions and a default ("local" from the dev backend): no
	// LocationConstraint goes to the default.
	s.createBucket("default-region", "")
	if rec, _, _ := s.srv.State().Bucket("default-region"); rec.Backings[0].BackendID == "" {
		t.Fatal("no backing")
	}
	cfg, _, _ := s.srv.State().Config()
	if rec, _, _ := s.srv.State().Bucket("default-region"); rec.Region != cfg.DefaultRegion {
		t.Errorf("bucket region %q, default %q", rec.Region, cfg.DefaultRegion)
	}
	s.createBucket("in-vgw", vgwRegion)
	be, name := s.backing("in-vgw")
	if _, _, err := be.ListObjects(ctx, name, "", "", 10); err != nil {
		t.Errorf("backing bucket on versitygw: %v", err)
	}
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("nowhere"),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: "mars-1"}})
	if code := errorCode(err); code != "InvalidLocationConstraint" {
		t.Errorf("unknown region: %s", code)
	}
	if _, ok, _ := s.srv.State().Bucket("nowhere"); ok {
		t.Error("bucket record created for an unknown region")
	}
}

func TestSubresources(t *testing.T) {
	s := newStack(t, stackOptions{})
	ctx := context.Background()
	s.createBucket("sub", "")
	s.put("sub", "k", []byte("v"))

	v, err := s.client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("sub")})
	if err != nil || v.Status != "" {
		t.Errorf("GetBucketVersioning = %+v, %v", v, err)
	}
	acl, err := s.client.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("sub")})
	if err != nil || len(acl.Grants) != 1 || acl.Grants[0].Permission != s3types.PermissionFullControl {
		t.Errorf("GetBucketAcl = %+v, %v", acl, err)
	}
	oacl, err := s.client.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("sub"), Key: aws.String("k")})
	if err != nil || len(oacl.Grants) != 1 {
		t.Errorf("GetObjectAcl = %+v, %v", oacl, err)
	}
	_, err = s.client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("sub"), Key: aws.String("k"),
		Tagging: &s3types.Tagging{TagSet: []s3types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}})
	if code := errorCode(err); code != "NotImplemented" {
		t.Errorf("PutObjectTagging: %s", code)
	}
	// The tagging PUT must not have replaced the object.
	if got := string(s.get("sub", "k")); got != "v" {
		t.Errorf("object after PUT ?tagging = %q", got)
	}
	_, err = s.client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("sub"),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
	if code := errorCode(err); code != "NotImplemented" {
		t.Errorf("PutBucketVersioning: %s", code)
	}
	_, err = s.client.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("sub")})
	if code := errorCode(err); code != "NotImplemented" {
		t.Errorf("GetBucketPolicy: %s", code)
	}
	r := s.rawRequest("PATCH", "/sub/k", nil)
	sign(t, r, nil, testAccessKey, testSecretKey, time.Now())
	if resp, _, e := do(t, r); resp.StatusCode != http.StatusMethodNotAllowed || e.Code != "MethodNotAllowed" {
		t.Errorf("PATCH: %d %s", resp.StatusCode, e.Code)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
