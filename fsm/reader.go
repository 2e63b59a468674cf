package fsm

// Reader is the read side of the state machine. *FSM implements it; every
// method reads one consistent bbolt view of the local state (callers that
// need strong consistency call the cluster's read barrier first).
type Reader interface {
	// AppliedIndex is the last raft index whose effect is in the state.
	AppliedIndex() uint64
	// Config returns the cluster config; ok is false before InitCluster.
	Config() (cfg ClusterConfig, ok bool, err error)
	// Credential looks up an access key. ok is false when unknown.
	Credential(accessKey string) (c Credential, ok bool, err error)

	Backends() ([]Backend, error)
	// Backend looks up by ID. ok is false when unknown.
	Backend(id string) (b Backend, ok bool, err error)
	// BackendByName looks up by admin-given name.
	BackendByName(name string) (b Backend, ok bool, err error)
	Regions() ([]Region, error)
	Region(name string) (r Region, ok bool, err error)

	// Buckets lists every bucket, sorted by name.
	Buckets() ([]Bucket, error)
	Bucket(name string) (b Bucket, ok bool, err error)
	// BucketEmpty reports whether the bucket holds no object records.
	BucketEmpty(name string) (bool, error)

	Object(bucket, key string) (o Object, ok bool, err error)
	// ListObjects lists object records in key order (S3 ListObjects
	// semantics: prefix, delimiter, start after a key, max keys).
	ListObjects(bucket string, opts ListOptions) (ListResult, error)

	Upload(id string) (u Upload, ok bool, err error)
	// ListUploads lists uploads of a bucket ordered by (key, initiated, id).
	ListUploads(bucket string, opts ListUploadsOptions) (ListUploadsResult, error)
	// AllUploads calls fn for every upload of every bucket (cleanup worker);
	// fn returning false stops the walk.
	AllUploads(fn func(Upload) bool) error
	// Parts lists the parts of an upload with number > marker, in number
	// order, at most max (0 means all).
	Parts(uploadID string, marker, max int) (parts []Part, truncated bool, err error)
}

// ListOptions selects object records.
type ListOptions struct {
	Prefix    string
	Delimiter string
	// After lists only keys strictly greater than After (marker,
	// start-after, or a decoded continuation token).
	After string
	// MaxKeys bounds Objects+CommonPrefixes together (S3 counts both);
	// 0 means 1000.
	MaxKeys int
}

// ListResult is one page of a listing.
type ListResult struct {
	Objects        []Object
	CommonPrefixes []string
	Truncated      bool
	// NextAfter is the last key or common prefix returned; pass it as
	// After to get the next page.
	NextAfter string
}

// ListUploadsOptions selects uploads (S3 ListMultipartUploads).
type ListUploadsOptions struct {
	Prefix         string
	Delimiter      string
	KeyMarker      string
	UploadIDMarker string
	MaxUploads     int
}

// ListUploadsResult is one page of uploads.
type ListUploadsResult struct {
	Uploads            []Upload
	CommonPrefixes     []string
	Truncated          bool
	NextKeyMarker      string
	NextUploadIDMarker string
}
