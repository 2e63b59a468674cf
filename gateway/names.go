package gateway

import (
	"net"
	"strings"
	"unicode/utf8"
)

// MaxKeyLength is S3's limit on object key length, in bytes of UTF-8.
const MaxKeyLength = 1024

// validBucketName applies S3's general-purpose bucket naming rules.
func validBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return false
	}
	if strings.Contains(name, "..") || strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		return false
	}
	if net.ParseIP(name) != nil {
		return false
	}
	if strings.HasPrefix(name, "xn--") || strings.HasPrefix(name, "sthree-") ||
		strings.HasSuffix(name, "-s3alias") || strings.HasSuffix(name, "--ol-s3") {
		return false
	}
	return true
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// checkBucketName returns InvalidBucketName for a name S3 would refuse.
func checkBucketName(name string) error {
	if !validBucketName(name) {
		return &APIError{Code: ErrInvalidBucketName, Extra: map[string]string{"BucketName": name}}
	}
	return nil
}

// checkKey enforces S3's key rules: 1 to 1024 bytes of valid UTF-8.
func checkKey(key string) error {
	if len(key) > MaxKeyLength {
		return &APIError{Code: ErrKeyTooLongError, Extra: map[string]string{
			"Size": itoa(len(key)), "MaxSizeAllowed": itoa(MaxKeyLength)}}
	}
	if key == "" {
		return apiErrf(ErrInvalidArgument, "The object key must not be empty.")
	}
	if !utf8.ValidString(key) {
		// What S3 answers for a key that is not UTF-8.
		return apiErrf(ErrInvalidURI, "Object keys must be valid UTF-8.")
	}
	return nil
}
