package fsm

import (
	"fmt"
	"unicode/utf8"
)

// Size limits on strings that become bbolt keys. They keep every key far
// below bbolt's MaxKeySize, so a write can never fail on input after the
// apply function's checks passed.
const (
	// MaxObjectKeyLen is S3's limit on object key length in bytes.
	MaxObjectKeyLen = 1024
	// MaxNameLen bounds names and ids: access keys, backend ids and
	// names, region and bucket names, upload ids.
	MaxNameLen = 255
	// MaxPartNumber is S3's highest part number.
	MaxPartNumber = 10000
)

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalidf(format string, args ...any) *Error {
	return errorf(CodeInvalid, format, args...)
}

// checkName validates a name or id used as a key.
func checkName(what, s string) error {
	switch {
	case s == "":
		return invalidf("%s is empty", what)
	case len(s) > MaxNameLen:
		return invalidf("%s is %d bytes long, more than %d", what, len(s), MaxNameLen)
	case !utf8.ValidString(s):
		return invalidf("%s is not valid UTF-8", what)
	}
	return nil
}

// checkObjectKey validates an object key (S3: 1 to 1024 bytes of UTF-8).
func checkObjectKey(key string) error {
	switch {
	case key == "":
		return invalidf("object key is empty")
	case len(key) > MaxObjectKeyLen:
		return invalidf("object key is %d bytes long, more than %d", len(key), MaxObjectKeyLen)
	case !utf8.ValidString(key):
		return invalidf("object key is not valid UTF-8")
	}
	return nil
}

// checkObject validates an object record before it is stored.
func checkObject(o *Object) error {
	if err := checkName("bucket name", o.Bucket); err != nil {
		return err
	}
	if err := checkObjectKey(o.Key); err != nil {
		return err
	}
	if o.Size < 0 {
		return invalidf("object %q has negative size %d", o.Key, o.Size)
	}
	return nil
}
