package gateway

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// TestEveryErrorCodeInTable parses errors.go and checks that every
// ErrorCode constant has an entry in errorTable, so no code can reach a
// client with a made-up status.
func TestEveryErrorCodeInTable(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatalf("parse errors.go: %v", err)
	}
	n := 0
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "ErrorCode" {
				continue
			}
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s: value is not a string literal", name.Name)
				}
				code, _ := strconv.Unquote(lit.Value)
				n++
				info, ok := errorTable[ErrorCode(code)]
				if !ok {
					t.Errorf("%s (%q) has no errorTable entry", name.Name, code)
					continue
				}
				if info.status < 300 || info.description == "" {
					t.Errorf("%s: entry %+v is incomplete", name.Name, info)
				}
			}
		}
	}
	if n < 40 {
		t.Fatalf("found only %d ErrorCode constants: the parser missed some", n)
	}
}

// TestSigv4CodesInTable checks that every code the verifier can return
// renders as itself rather than InternalError.
func TestSigv4CodesInTable(t *testing.T) {
	for _, code := range []string{
		"AccessDenied", "AuthorizationHeaderMalformed", "AuthorizationQueryParametersError",
		"BadDigest", "IncompleteBody", "InvalidAccessKeyId", "InvalidArgument", "InvalidDigest",
		"InvalidRequest", "MalformedTrailerError", "MissingContentLength", "MissingSecurityHeader",
		"RequestTimeTooSkewed", "SignatureDoesNotMatch", "XAmzContentSHA256Mismatch",
	} {
		if _, ok := errorTable[ErrorCode(code)]; !ok {
			t.Errorf("sigv4 code %s is not in errorTable", code)
		}
	}
}
