package iam

// Identity is an authenticated caller: the access key that signed the
// request and whom it belongs to.
type Identity struct {
	AccessKey string
	// Admin is true for the cluster's admin credential.
	Admin bool
	// User is the owning user's name (empty for the admin credential).
	User string
}
