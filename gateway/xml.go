package gateway

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"time"
)

// s3Namespace is the XML namespace of S3 documents.
const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// s3Time formats timestamps in XML bodies as S3 does (ISO 8601, ms, UTC).
func s3Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// owner is the Owner element.
type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

// readXMLBody decodes a bounded XML request body into v. A body larger than
// limit, empty when required, or not well-formed is MalformedXML; a read
// error of the body itself (signature, digest) is returned as it is.
func readXMLBody(body io.Reader, limit int64, v any) error {
	if body == nil {
		return apiErr(ErrMalformedXML)
	}
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	if int64(len(data)) > limit {
		return apiErrf(ErrMalformedXML, "The XML body is larger than %d bytes.", limit)
	}
	return decodeXML(data, v)
}

// decodeXML strictly decodes one XML document.
func decodeXML(data []byte, v any) error {
	if err := xml.Unmarshal(data, v); err != nil {
		if errors.Is(err, io.EOF) {
			return apiErrf(ErrMalformedXML, "The XML body is empty.")
		}
		return &APIError{Code: ErrMalformedXML, Cause: err}
	}
	return nil
}
