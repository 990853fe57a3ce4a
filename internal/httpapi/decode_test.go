package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dandanchat/dandan/api"
)

func request(body []byte) *http.Request {
	r := httptest.NewRequest("POST", "/v1/x", bytes.NewReader(body))
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, api.MaxHTTPBody)
	return r
}

func TestDecode(t *testing.T) {
	for _, tt := range []struct {
		body string
		code api.Code
	}{
		{`{"id":"a","text":"hi"}`, ""},
		{`{"id":"a","text":"hi"} {}`, api.CodeBadRequest},
		{`{"id":"a","bogus":1}`, api.CodeBadRequest},
		{``, api.CodeBadRequest},
		{`[`, api.CodeBadRequest},
		{`{"id":"a","text":"` + strings.Repeat("x", api.MaxHTTPBody) + `"}`, api.CodeTooLarge},
	} {
		var req api.SendRequest
		err := decode(request([]byte(tt.body)), &req)
		if tt.code == "" && err != nil || tt.code != "" && !api.IsCode(err, tt.code) {
			t.Errorf("decode(%.40q) = %v, want %q", tt.body, err, tt.code)
		}
	}
}

// FuzzDecode feeds arbitrary bodies to the decoder of every request type: it
// must return nil or an *api.Error, never panic.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"handle":"alice","password":"12345678"}`, `{"id":"m1","text":"hi","reply_to":3}`,
		`{"users":["a","b"]}`, `{"delivered":1,"read":2}`, `{"name":"\u0000"}`, `{"members":null}`, `1e999`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []any{&api.SignUpRequest{}, &api.SignInRequest{}, &api.SendRequest{}, &api.EditRequest{},
			&api.CreateGroupRequest{}, &api.CreateDirectRequest{}, &api.InviteRequest{}, &api.RenameRequest{}, &api.ReceiptRequest{}} {
			if err := decode(request(b), v); err != nil && api.CodeOf(err) == api.CodeInternal {
				t.Fatalf("untyped error %v", err)
			}
		}
	})
}
