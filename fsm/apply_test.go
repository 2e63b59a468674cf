package fsm

import (
	"strings"
	"testing"
	"time"
)

// applyCase is one command applied on top of a prepared state.
type applyCase struct {
	name  string
	setup func(f *testFSM)
	cmd   CommandType
	body  any
	code  string // "" for success
	check func(t *testing.T, f *testFSM, res Result)
}

func initialised(f *testFSM) { f.mustApply(CmdInitCluster, initCluster()) }

func withBackend(f *testFSM) {
	initialised(f)
	f.mustApply(CmdPutBackend, putBackend(backendID, "disk", region))
}

func withBucketSetup(f *testFSM) {
	withBackend(f)
	f.mustApply(CmdCreateBucket, createBucket("b1", region, backendID))
}

func withObject(f *testFSM) {
	withBucketSetup(f)
	f.mustApply(CmdPutObject, PutObject{Object: object("b1", "k", 1)})
}

func withUpload(f *testFSM) {
	withBucketSetup(f)
	f.mustApply(CmdCreateUpload, CreateUpload{Upload: upload("u1", "b1", "big", t0)})
	f.mustApply(CmdPutPart, PutPart{Part: Part{UploadID: "u1", Number: 1, Size: 5 << 20, ETag: "p1", ModTime: t0}})
	f.mustApply(CmdPutPart, PutPart{Part: Part{UploadID: "u1", Number: 2, Size: 1, ETag: "p2", ModTime: t0}})
}

func clusterCases() []applyCase {
	noInitDefault := initCluster()
	noInitDefault.Config.DefaultRegion = "nowhere"
	noKey := initCluster()
	noKey.Admin.AccessKey = ""
	noSecret := initCluster()
	noSecret.Admin.SecretSealed = nil
	return []applyCase{
		{name: "init", cmd: CmdInitCluster, body: initCluster(), check: func(t *testing.T, f *testFSM, _ Result) {
			cfg, ok, err := f.Config()
			if err != nil || !ok || cfg.ClusterID != "c-1" || !cfg.CreatedAt.Equal(t0) {
				t.Fatalf("Config() = %+v, %v, %v", cfg, ok, err)
			}
			c, ok, err := f.Credential(adminKey)
			if err != nil || !ok || !c.Admin || string(c.SecretSealed) != "sealed" {
				t.Fatalf("Credential() = %+v, %v, %v", c, ok, err)
			}
		}},
		{name: "init twice", setup: initialised, cmd: CmdInitCluster, body: initCluster(), code: CodeAlreadyInitialized},
		{name: "init without access key", cmd: CmdInitCluster, body: noKey, code: CodeInvalid},
		{name: "init without secret", cmd: CmdInitCluster, body: noSecret, code: CodeInvalid},
		{name: "init with unknown default region", cmd: CmdInitCluster, body: noInitDefault, code: CodeNoSuchRegion},
		{name: "set default region", setup: withBackend, cmd: CmdSetDefaultRegion, body: SetDefaultRegion{Region: region},
			check: wantDefaultRegion(region)},
		{name: "clear default region", setup: func(f *testFSM) {
			withBackend(f)
			f.mustApply(CmdSetDefaultRegion, SetDefaultRegion{Region: region})
		}, cmd: CmdSetDefaultRegion, body: SetDefaultRegion{}, check: wantDefaultRegion("")},
		{name: "set unknown default region", setup: withBackend, cmd: CmdSetDefaultRegion, body: SetDefaultRegion{Region: "x"}, code: CodeNoSuchRegion},
		{name: "set default region before init", cmd: CmdSetDefaultRegion, body: SetDefaultRegion{}, code: CodeInvalid},
	}
}

func wantDefaultRegion(name string) func(t *testing.T, f *testFSM, _ Result) {
	return func(t *testing.T, f *testFSM, _ Result) {
		t.Helper()
		cfg, _, err := f.Config()
		if err != nil || cfg.DefaultRegion != name {
			t.Fatalf("DefaultRegion = %q (%v), want %q", cfg.DefaultRegion, err, name)
		}
	}
}

func backendCases() []applyCase {
	badType := putBackend("be-2", "other", "r2")
	badType.Backend.Type = "ftp"
	noRegions := putBackend("be-2", "other", "r2")
	noRegions.Regions = nil
	foreignBacking := putBackend("be-2", "other", "r2")
	foreignBacking.Regions[0].Backings[0].BackendID = backendID
	dupRegions := putBackend("be-2", "other", "r2")
	dupRegions.Regions = append(dupRegions.Regions, dupRegions.Regions[0])
	longName := putBackend("be-2", strings.Repeat("n", MaxNameLen+1), "r2")
	return []applyCase{
		{name: "put backend", setup: initialised, cmd: CmdPutBackend, body: putBackend(backendID, "disk", region),
			check: func(t *testing.T, f *testFSM, _ Result) {
				b, ok, err := f.BackendByName("disk")
				if err != nil || !ok || b.ID != backendID || b.Path != "/srv/disk" {
					t.Fatalf("BackendByName = %+v, %v, %v", b, ok, err)
				}
				r, ok, err := f.Region(region)
				if err != nil || !ok || len(r.Backings) != 1 || r.Backings[0].BackendID != backendID {
					t.Fatalf("Region = %+v, %v, %v", r, ok, err)
				}
			}},
		{name: "put backend name taken", setup: withBackend, cmd: CmdPutBackend, body: putBackend("be-2", "disk", "r2"), code: CodeBackendExists},
		{name: "put backend id taken", setup: withBackend, cmd: CmdPutBackend, body: putBackend(backendID, "other", "r2"), code: CodeBackendExists},
		{name: "put backend region taken", setup: withBackend, cmd: CmdPutBackend, body: putBackend("be-2", "other", region), code: CodeRegionExists},
		{name: "put backend duplicate regions", setup: withBackend, cmd: CmdPutBackend, body: dupRegions, code: CodeRegionExists},
		{name: "put backend bad type", setup: withBackend, cmd: CmdPutBackend, body: badType, code: CodeInvalid},
		{name: "put backend without regions", setup: withBackend, cmd: CmdPutBackend, body: noRegions, code: CodeInvalid},
		{name: "put backend region on other backend", setup: withBackend, cmd: CmdPutBackend, body: foreignBacking, code: CodeInvalid},
		{name: "put backend name too long", setup: withBackend, cmd: CmdPutBackend, body: longName, code: CodeInvalid},
		{name: "remove backend", setup: func(f *testFSM) {
			withBackend(f)
			f.mustApply(CmdSetDefaultRegion, SetDefaultRegion{Region: region})
		}, cmd: CmdRemoveBackend, body: RemoveBackend{Name: "disk"}, check: func(t *testing.T, f *testFSM, _ Result) {
			if _, ok, _ := f.Backend(backendID); ok {
				t.Fatal("backend still there")
			}
			if _, ok, _ := f.Region(region); ok {
				t.Fatal("its region is still there")
			}
			wantDefaultRegion("")(t, f, Result{})
		}},
		{name: "remove backend keeps composite region", setup: func(f *testFSM) {
			withBackend(f)
			f.mustApply(CmdPutBackend, PutBackend{
				Backend: Backend{ID: "be-2", Name: "other", Type: "s3"},
				Regions: []Region{{Name: "multi", Backings: []BackingRegion{{BackendID: "be-2", Region: "eu"}, {BackendID: "be-2", Region: "us"}}}},
			})
			f.mustApply(CmdSetDefaultRegion, SetDefaultRegion{Region: region})
		}, cmd: CmdRemoveBackend, body: RemoveBackend{Name: "other"}, check: func(t *testing.T, f *testFSM, _ Result) {
			regions, err := f.Regions()
			if err != nil || len(regions) != 1 || regions[0].Name != region {
				t.Fatalf("Regions = %+v, %v", regions, err)
			}
			wantDefaultRegion(region)(t, f, Result{})
		}},
		{name: "remove unknown backend", setup: withBackend, cmd: CmdRemoveBackend, body: RemoveBackend{Name: "nope"}, code: CodeNoSuchBackend},
		{name: "remove backend in use", setup: withBucketSetup, cmd: CmdRemoveBackend, body: RemoveBackend{Name: "disk"}, code: CodeBackendInUse},
		{name: "rename region", setup: func(f *testFSM) {
			withBucketSetup(f)
			f.mustApply(CmdSetDefaultRegion, SetDefaultRegion{Region: region})
		}, cmd: CmdRenameRegion, body: RenameRegion{Old: region, New: "eu-home"}, check: func(t *testing.T, f *testFSM, _ Result) {
			if _, ok, _ := f.Region(region); ok {
				t.Fatal("old region still there")
			}
			if r, ok, _ := f.Region("eu-home"); !ok || r.Name != "eu-home" {
				t.Fatalf("new region = %+v, %v", r, ok)
			}
			if b, _, _ := f.Bucket("b1"); b.Region != "eu-home" {
				t.Fatalf("bucket region = %q", b.Region)
			}
			wantDefaultRegion("eu-home")(t, f, Result{})
		}},
		{name: "rename region to itself", setup: withBackend, cmd: CmdRenameRegion, body: RenameRegion{Old: region, New: region}},
		{name: "rename unknown region", setup: withBackend, cmd: CmdRenameRegion, body: RenameRegion{Old: "x", New: "y"}, code: CodeNoSuchRegion},
		{name: "rename region onto existing", setup: func(f *testFSM) {
			withBackend(f)
			f.mustApply(CmdPutBackend, putBackend("be-2", "other", "r2"))
		}, cmd: CmdRenameRegion, body: RenameRegion{Old: region, New: "r2"}, code: CodeRegionExists},
		{name: "rename region to empty", setup: withBackend, cmd: CmdRenameRegion, body: RenameRegion{Old: region}, code: CodeInvalid},
	}
}

func bucketCases() []applyCase {
	unknownBackend := createBucket("b2", region, "be-nope")
	return []applyCase{
		{name: "create bucket", setup: withBackend, cmd: CmdCreateBucket, body: createBucket("b1", region, backendID),
			check: func(t *testing.T, f *testFSM, _ Result) {
				b, ok, err := f.Bucket("b1")
				if err != nil || !ok || b.Owner != adminKey || b.Backings[0].Name != "b1-abc123" {
					t.Fatalf("Bucket = %+v, %v, %v", b, ok, err)
				}
				if empty, err := f.BucketEmpty("b1"); err != nil || !empty {
					t.Fatalf("BucketEmpty = %v, %v", empty, err)
				}
			}},
		{name: "create existing bucket", setup: withBucketSetup, cmd: CmdCreateBucket, body: createBucket("b1", region, backendID),
			code: CodeBucketExists, check: func(t *testing.T, _ *testFSM, res Result) {
				if res.Err.Owner != adminKey {
					t.Fatalf("Owner = %q, want %q", res.Err.Owner, adminKey)
				}
			}},
		{name: "create bucket unknown region", setup: withBackend, cmd: CmdCreateBucket, body: createBucket("b2", "x", backendID), code: CodeNoSuchRegion},
		{name: "create bucket without region", setup: withBackend, cmd: CmdCreateBucket, body: createBucket("b2", "", backendID), code: CodeNoSuchRegion},
		{name: "create bucket unknown backend", setup: withBackend, cmd: CmdCreateBucket, body: unknownBackend, code: CodeNoSuchBackend},
		{name: "create bucket without name", setup: withBackend, cmd: CmdCreateBucket, body: createBucket("", region, backendID), code: CodeInvalid},
		{name: "delete bucket", setup: withUpload, cmd: CmdDeleteBucket, body: DeleteBucket{Name: "b1"}, check: func(t *testing.T, f *testFSM, _ Result) {
			if _, ok, _ := f.Bucket("b1"); ok {
				t.Fatal("bucket still there")
			}
			if _, ok, _ := f.Upload("u1"); ok {
				t.Fatal("its upload is still there")
			}
			if _, _, err := f.Parts("u1", 0, 0); !isCode(err, CodeNoSuchUpload) {
				t.Fatalf("Parts after delete: %v", err)
			}
			if n := countParts(t, f); n != 0 {
				t.Fatalf("%d part records left", n)
			}
		}},
		{name: "delete unknown bucket", setup: withBackend, cmd: CmdDeleteBucket, body: DeleteBucket{Name: "b1"}, code: CodeNoSuchBucket},
		{name: "delete non-empty bucket", setup: withObject, cmd: CmdDeleteBucket, body: DeleteBucket{Name: "b1"}, code: CodeBucketNotEmpty},
	}
}

func objectCases() []applyCase {
	replaced := object("b1", "k", 2)
	return []applyCase{
		{name: "put object", setup: withBucketSetup, cmd: CmdPutObject, body: PutObject{Object: object("b1", "k", 1)},
			check: func(t *testing.T, f *testFSM, res Result) {
				if res.Previous != nil {
					t.Fatalf("Previous = %+v, want nil", res.Previous)
				}
				o, ok, err := f.Object("b1", "k")
				if err != nil || !ok || o.Size != 1 || o.Meta.UserMeta["b"] != "2" || !o.ModTime.Equal(t0) || o.ModTime.Location() != time.UTC {
					t.Fatalf("Object = %+v, %v, %v", o, ok, err)
				}
			}},
		{name: "replace object", setup: withObject, cmd: CmdPutObject, body: PutObject{Object: replaced},
			check: func(t *testing.T, f *testFSM, res Result) {
				if res.Previous == nil || res.Previous.Size != 1 {
					t.Fatalf("Previous = %+v, want the size-1 record", res.Previous)
				}
				if o, _, _ := f.Object("b1", "k"); o.Size != 2 {
					t.Fatalf("Object size = %d, want 2", o.Size)
				}
			}},
		{name: "put object unknown bucket", setup: withBucketSetup, cmd: CmdPutObject, body: PutObject{Object: object("nope", "k", 1)}, code: CodeNoSuchBucket},
		{name: "put object empty key", setup: withBucketSetup, cmd: CmdPutObject, body: PutObject{Object: object("b1", "", 1)}, code: CodeInvalid},
		{name: "put object key too long", setup: withBucketSetup, cmd: CmdPutObject, body: PutObject{Object: object("b1", strings.Repeat("k", MaxObjectKeyLen+1), 1)}, code: CodeInvalid},
		{name: "put object key of 1024 bytes", setup: withBucketSetup, cmd: CmdPutObject, body: PutObject{Object: object("b1", strings.Repeat("é", MaxObjectKeyLen/2), 1)}},
		{name: "put object key not UTF-8", setup: withBucketSetup, cmd: CmdPutObject, body: PutObject{Object: object("b1", "a\xffb", 1)}, code: CodeInvalid},
		{name: "put object negative size", setup: withBucketSetup, cmd: CmdPutObject, body: PutObject{Object: object("b1", "k", -1)}, code: CodeInvalid},
		{name: "put object if replica ETag", setup: withObject, cmd: CmdPutObject, body: PutObject{Object: replaced, IfReplicaETag: "be"},
			check: func(t *testing.T, f *testFSM, res Result) {
				if res.Previous == nil || res.Previous.Size != 1 {
					t.Fatalf("Previous = %+v, want the size-1 record", res.Previous)
				}
				if o, _, _ := f.Object("b1", "k"); o.Size != 2 {
					t.Fatalf("Object size = %d, want 2", o.Size)
				}
			}},
		{name: "put object if replica ETag mismatch", setup: withObject, cmd: CmdPutObject, body: PutObject{Object: replaced, IfReplicaETag: "other"}, code: CodePreconditionFailed},
		{name: "put object if replica ETag missing record", setup: withBucketSetup, cmd: CmdPutObject, body: PutObject{Object: replaced, IfReplicaETag: "be"}, code: CodePreconditionFailed},
		{name: "put object if replica ETag unknown bucket", setup: withBucketSetup, cmd: CmdPutObject, body: PutObject{Object: object("nope", "k", 1), IfReplicaETag: "be"}, code: CodeNoSuchBucket},
		{name: "delete object", setup: withObject, cmd: CmdDeleteObject, body: DeleteObject{Bucket: "b1", Key: "k"},
			check: func(t *testing.T, f *testFSM, res Result) {
				if res.Previous == nil || res.Previous.Key != "k" {
					t.Fatalf("Previous = %+v", res.Previous)
				}
				if _, ok, _ := f.Object("b1", "k"); ok {
					t.Fatal("object still there")
				}
			}},
		{name: "delete missing object", setup: withBucketSetup, cmd: CmdDeleteObject, body: DeleteObject{Bucket: "b1", Key: "k"},
			check: func(t *testing.T, _ *testFSM, res Result) {
				if res.Previous != nil {
					t.Fatalf("Previous = %+v, want nil", res.Previous)
				}
			}},
		{name: "delete object unknown bucket", setup: withBucketSetup, cmd: CmdDeleteObject, body: DeleteObject{Bucket: "nope", Key: "k"}, code: CodeNoSuchBucket},
		{name: "delete object if replica ETag and time", setup: withObject, cmd: CmdDeleteObject,
			body: DeleteObject{Bucket: "b1", Key: "k", IfReplicaETag: "be", IfModTime: t0.In(time.FixedZone("x", 3600))},
			check: func(t *testing.T, f *testFSM, res Result) {
				if res.Previous == nil || res.Previous.Size != 1 {
					t.Fatalf("Previous = %+v, want the size-1 record", res.Previous)
				}
				if _, ok, _ := f.Object("b1", "k"); ok {
					t.Fatal("object still there")
				}
			}},
		{name: "delete object if replica ETag only", setup: withObject, cmd: CmdDeleteObject, body: DeleteObject{Bucket: "b1", Key: "k", IfReplicaETag: "be"},
			check: wantNoObject("b1", "k")},
		{name: "delete object if time only", setup: withObject, cmd: CmdDeleteObject, body: DeleteObject{Bucket: "b1", Key: "k", IfModTime: t0},
			check: wantNoObject("b1", "k")},
		{name: "delete object if replica ETag mismatch", setup: withObject, cmd: CmdDeleteObject,
			body: DeleteObject{Bucket: "b1", Key: "k", IfReplicaETag: "other", IfModTime: t0}, code: CodePreconditionFailed, check: wantObjectSize("b1", "k", 1)},
		{name: "delete object if time mismatch (same bytes written again)", setup: withObject, cmd: CmdDeleteObject,
			body: DeleteObject{Bucket: "b1", Key: "k", IfReplicaETag: "be", IfModTime: t0.Add(time.Nanosecond)}, code: CodePreconditionFailed, check: wantObjectSize("b1", "k", 1)},
		{name: "delete object if replica ETag, record without replicas", setup: func(f *testFSM) {
			withBucketSetup(f)
			o := object("b1", "k", 1)
			o.Replicas = nil
			f.mustApply(CmdPutObject, PutObject{Object: o})
		}, cmd: CmdDeleteObject, body: DeleteObject{Bucket: "b1", Key: "k", IfReplicaETag: "be"}, code: CodePreconditionFailed, check: wantObjectSize("b1", "k", 1)},
		{name: "delete object if replica ETag missing record", setup: withBucketSetup, cmd: CmdDeleteObject,
			body: DeleteObject{Bucket: "b1", Key: "k", IfReplicaETag: "be", IfModTime: t0}, code: CodePreconditionFailed},
		{name: "delete object if replica ETag unknown bucket", setup: withBucketSetup, cmd: CmdDeleteObject,
			body: DeleteObject{Bucket: "nope", Key: "k", IfReplicaETag: "be"}, code: CodeNoSuchBucket},
	}
}

func uploadCases() []applyCase {
	complete := object("b1", "big", 5<<20+1)
	complete.ETag = "abc-2"
	complete.PartSizes = []int64{5 << 20, 1}
	return []applyCase{
		{name: "create upload", setup: withBucketSetup, cmd: CmdCreateUpload, body: CreateUpload{Upload: upload("u1", "b1", "big", t0)},
			check: func(t *testing.T, f *testFSM, _ Result) {
				u, ok, err := f.Upload("u1")
				if err != nil || !ok || u.Key != "big" || u.BackendUploadID != "native-u1" || !u.Initiated.Equal(t0) {
					t.Fatalf("Upload = %+v, %v, %v", u, ok, err)
				}
			}},
		{name: "create upload unknown bucket", setup: withBucketSetup, cmd: CmdCreateUpload, body: CreateUpload{Upload: upload("u1", "nope", "big", t0)}, code: CodeNoSuchBucket},
		{name: "create upload id taken", setup: withUpload, cmd: CmdCreateUpload, body: CreateUpload{Upload: upload("u1", "b1", "other", t0)}, code: CodeInvalid},
		{name: "create upload without id", setup: withBucketSetup, cmd: CmdCreateUpload, body: CreateUpload{Upload: upload("", "b1", "big", t0)}, code: CodeInvalid},
		{name: "put part", setup: withUpload, cmd: CmdPutPart, body: PutPart{Part: Part{UploadID: "u1", Number: 3, Size: 7, ETag: "p3"}},
			check: wantParts(1, 2, 3)},
		{name: "replace part", setup: withUpload, cmd: CmdPutPart, body: PutPart{Part: Part{UploadID: "u1", Number: 2, Size: 9, ETag: "p2b"}},
			check: func(t *testing.T, f *testFSM, _ Result) {
				parts, _, err := f.Parts("u1", 1, 0)
				if err != nil || len(parts) != 1 || parts[0].ETag != "p2b" || parts[0].Size != 9 {
					t.Fatalf("Parts = %+v, %v", parts, err)
				}
			}},
		{name: "put part unknown upload", setup: withUpload, cmd: CmdPutPart, body: PutPart{Part: Part{UploadID: "u2", Number: 1}}, code: CodeNoSuchUpload},
		{name: "put part number 0", setup: withUpload, cmd: CmdPutPart, body: PutPart{Part: Part{UploadID: "u1", Number: 0}}, code: CodeInvalid},
		{name: "put part number 10001", setup: withUpload, cmd: CmdPutPart, body: PutPart{Part: Part{UploadID: "u1", Number: MaxPartNumber + 1}}, code: CodeInvalid},
		{name: "complete upload", setup: withUpload, cmd: CmdCompleteUpload, body: CompleteUpload{UploadID: "u1", Object: complete},
			check: func(t *testing.T, f *testFSM, res Result) {
				if res.Previous != nil {
					t.Fatalf("Previous = %+v", res.Previous)
				}
				o, ok, err := f.Object("b1", "big")
				if err != nil || !ok || o.ETag != "abc-2" || len(o.PartSizes) != 2 {
					t.Fatalf("Object = %+v, %v, %v", o, ok, err)
				}
				if _, ok, _ := f.Upload("u1"); ok {
					t.Fatal("upload still there")
				}
				if n := countParts(t, f); n != 0 {
					t.Fatalf("%d part records left", n)
				}
				lr, err := f.ListUploads("b1", ListUploadsOptions{})
				if err != nil || len(lr.Uploads) != 0 {
					t.Fatalf("ListUploads = %+v, %v", lr, err)
				}
			}},
		{name: "complete upload replaces object", setup: func(f *testFSM) {
			withUpload(f)
			f.mustApply(CmdPutObject, PutObject{Object: object("b1", "big", 3)})
		}, cmd: CmdCompleteUpload, body: CompleteUpload{UploadID: "u1", Object: complete},
			check: func(t *testing.T, _ *testFSM, res Result) {
				if res.Previous == nil || res.Previous.Size != 3 {
					t.Fatalf("Previous = %+v", res.Previous)
				}
			}},
		{name: "complete unknown upload", setup: withUpload, cmd: CmdCompleteUpload, body: CompleteUpload{UploadID: "u2", Object: complete}, code: CodeNoSuchUpload},
		{name: "complete upload other key", setup: withUpload, cmd: CmdCompleteUpload, body: CompleteUpload{UploadID: "u1", Object: object("b1", "small", 1)}, code: CodeInvalid},
		{name: "abort upload", setup: withUpload, cmd: CmdAbortUpload, body: AbortUpload{UploadID: "u1"}, check: func(t *testing.T, f *testFSM, _ Result) {
			if _, ok, _ := f.Upload("u1"); ok {
				t.Fatal("upload still there")
			}
			if n := countParts(t, f); n != 0 {
				t.Fatalf("%d part records left", n)
			}
		}},
		{name: "abort unknown upload", setup: withUpload, cmd: CmdAbortUpload, body: AbortUpload{UploadID: "u2"}, code: CodeNoSuchUpload},
	}
}

func wantParts(numbers ...int) func(t *testing.T, f *testFSM, _ Result) {
	return func(t *testing.T, f *testFSM, _ Result) {
		t.Helper()
		parts, truncated, err := f.Parts("u1", 0, 0)
		if err != nil || truncated || len(parts) != len(numbers) {
			t.Fatalf("Parts = %+v, %v, %v", parts, truncated, err)
		}
		for i, p := range parts {
			if p.Number != numbers[i] {
				t.Fatalf("part %d has number %d, want %d", i, p.Number, numbers[i])
			}
		}
	}
}

// TestApplyCommands applies every command type: its success and each of its
// error codes. A failing command must leave the state exactly as it was.
func TestApplyCommands(t *testing.T) {
	var cases []applyCase
	for _, group := range [][]applyCase{clusterCases(), backendCases(), bucketCases(), objectCases(), uploadCases()} {
		cases = append(cases, group...)
	}
	covered := map[CommandType]bool{}
	for _, tc := range cases {
		covered[tc.cmd] = true
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFSM(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			before := dumpState(t, f.FSM)
			res := f.apply(tc.cmd, tc.body)
			wantCode(t, res, tc.code)
			if tc.code != "" {
				if after := dumpState(t, f.FSM); after != before {
					t.Fatalf("failed command changed the state:\nbefore:\n%s\nafter:\n%s", before, after)
				}
			}
			if f.AppliedIndex() != res.Index {
				t.Fatalf("AppliedIndex = %d, want %d (failures advance it too)", f.AppliedIndex(), res.Index)
			}
			if tc.check != nil {
				tc.check(t, f, res)
			}
		})
	}
	for ct := CmdInitCluster; ct <= CmdAbortUpload; ct++ {
		if !covered[ct] {
			t.Errorf("no test case applies %s", ct)
		}
	}
}

func TestEveryCommandTypeRegistered(t *testing.T) {
	f := newTestFSM(t)
	for ct := CmdInitCluster; ct <= CmdAbortUpload; ct++ {
		if _, ok := f.handlers[ct]; !ok {
			t.Errorf("%s has no apply function", ct)
		}
	}
	if len(f.handlers) != int(CmdAbortUpload) {
		t.Errorf("%d apply functions registered, want %d", len(f.handlers), CmdAbortUpload)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	f := newTestFSM(t)
	defer func() {
		if recover() == nil {
			t.Fatal("registering a command type twice did not panic")
		}
	}()
	f.register(CmdPutObject, typed(applyPutObject))
}

func TestUnknownAndMalformedCommands(t *testing.T) {
	f := withBucket(t)
	cases := []struct {
		name string
		data []byte
		code string
	}{
		{"unknown type", []byte{200, 0x80}, CodeUnknownCommand},
		{"empty entry", nil, CodeInvalid},
		{"garbage body", []byte{byte(CmdPutObject), 0xc1, 0xff}, CodeInvalid},
		{"wrong body type", append([]byte{byte(CmdPutObject)}, mustEncodeBody(t, "a string")...), CodeInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := dumpState(t, f.FSM)
			idx := f.next
			f.next++
			resp := f.Apply(rawEntry(idx, tc.data))
			res, ok := resp.(Result)
			if !ok {
				t.Fatalf("Apply returned %T", resp)
			}
			wantCode(t, res, tc.code)
			if f.AppliedIndex() != idx {
				t.Fatalf("AppliedIndex = %d, want %d: a deterministic failure still advances", f.AppliedIndex(), idx)
			}
			if dumpState(t, f.FSM) != before {
				t.Fatal("state changed")
			}
		})
	}
}

// wantNoObject checks that bucket/key has no record.
func wantNoObject(bucket, key string) func(t *testing.T, f *testFSM, _ Result) {
	return func(t *testing.T, f *testFSM, _ Result) {
		if o, ok, err := f.Object(bucket, key); err != nil || ok {
			t.Fatalf("Object(%s, %s) = %+v, %v, %v; want none", bucket, key, o, ok, err)
		}
	}
}

// wantObjectSize checks that bucket/key still has its record of size.
func wantObjectSize(bucket, key string, size int64) func(t *testing.T, f *testFSM, _ Result) {
	return func(t *testing.T, f *testFSM, _ Result) {
		if o, ok, err := f.Object(bucket, key); err != nil || !ok || o.Size != size {
			t.Fatalf("Object(%s, %s) = %+v, %v, %v; want the size-%d record kept", bucket, key, o, ok, err, size)
		}
	}
}
