package gateway_test

import (
	"bytes"
	"errors"

	"github.com/stratagw/strata/backend"
)

// asErr is errors.As for interface targets.
func asErr(err error, target any) bool { return err != nil && errors.As(err, target) }

// bytesReader is bytes.NewReader, short for table literals.
func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// backendMeta is empty native metadata.
func backendMeta() backend.Meta { return backend.Meta{ContentType: "binary/octet-stream"} }
