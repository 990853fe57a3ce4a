package api

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestDecodeClientFrame(t *testing.T) {
	tests := []struct {
		in   string
		code Code // "" = valid
	}{
		{`{"type":"auth","token":"d1.x"}`, ""},
		{`{"type":"auth"}`, CodeBadRequest},
		{`{"type":"sync","cursors":{"r1":3}}`, ""},
		{`{"type":"send","id":"m1","room":"r1","text":"hi"}`, ""},
		{`{"type":"send","id":"bad id","room":"r1","text":"hi"}`, CodeInvalid},
		{`{"type":"send","id":"m1","text":"hi"}`, CodeBadRequest},
		{`{"type":"edit","id":"m1","room":"r1","text":"hi"}`, CodeBadRequest},
		{`{"type":"delete","id":"m1","room":"r1","target":3}`, ""},
		{`{"type":"typing"}`, CodeBadRequest},
		{`{"type":"ping"}`, ""},
		{`{"type":"nope"}`, CodeBadRequest},
		{`{}`, CodeBadRequest},
		{`[1,2]`, CodeBadRequest},
		{`{"type":"send","id":"m1","room":"r1","text":"hi"`, CodeBadRequest},
		{`{"type":"sync","cursors":{"r1":-1}}`, CodeBadRequest},
		{`{"type":"ping","pad":"` + strings.Repeat("x", MaxFrameBytes) + `"}`, CodeTooLarge},
	}
	for _, tt := range tests {
		f, err := DecodeClientFrame([]byte(tt.in))
		if tt.code == "" {
			if err != nil || f == nil {
				t.Errorf("DecodeClientFrame(%.60s) = %v, want a frame", tt.in, err)
			}
			continue
		}
		if got := CodeOf(err); got != tt.code {
			t.Errorf("DecodeClientFrame(%.60s) code = %q, want %q (err %v)", tt.in, got, tt.code, err)
		}
	}
}

func FuzzDecodeClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"auth","token":"d1.x"}`, `{"type":"sync","cursors":{"r1":3}}`,
		`{"type":"send","id":"m1","room":"r1","text":"hi","reply_to":2}`,
		`{"type":"edit","id":"m1","room":"r1","target":1,"text":"x"}`, `{"type":"receipt","room":"r","read":1}`,
		`{"type":"\u0000"}`, `null`, `{"type":"send","id":"` + strings.Repeat("a", 65) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeClientFrame(b)
		if err != nil {
			if fr != nil {
				t.Fatal("frame and error both returned")
			}
			if CodeOf(err) == CodeInternal {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		switch fr.Type {
		case FrameSend, FrameEdit, FrameDelete:
			if !ValidClientID(fr.ID) || fr.Room == "" {
				t.Fatalf("accepted %s frame without id or room: %+v", fr.Type, fr)
			}
		case FrameAuth:
			if fr.Token == "" {
				t.Fatal("accepted auth without token")
			}
		case FrameSync, FrameReceipt, FrameTyping, FramePing:
		default:
			t.Fatalf("accepted unknown type %q", fr.Type)
		}
	})
}

func TestCheckText(t *testing.T) {
	for _, tt := range []struct {
		in   string
		code Code
	}{
		{"hello", ""}, {"", CodeInvalid}, {string([]byte{0xff, 0xfe}), CodeInvalid},
		{strings.Repeat("가", MaxTextBytes/3), ""}, {strings.Repeat("a", MaxTextBytes+1), CodeTooLarge},
	} {
		err := CheckText(tt.in)
		var got Code
		if err != nil {
			got = err.Code
		}
		if got != tt.code {
			t.Errorf("CheckText(%.20q) = %q, want %q", tt.in, got, tt.code)
		}
	}
}

func TestCodeHTTPStatus(t *testing.T) {
	for code, want := range map[Code]int{CodeForbidden: 403, CodeUnauthorized: 401, CodeRateLimited: 429,
		CodeTooLarge: 413, CodeNotFound: 404, CodeHandleTaken: 409, CodeUnavailable: 503, CodeInternal: 500} {
		if got := code.HTTPStatus(); got != want {
			t.Errorf("%s.HTTPStatus() = %d, want %d", code, got, want)
		}
	}
}

// The validators agree with the regular expressions that define them.
func TestValidatorsMatchTheirDefinitions(t *testing.T) {
	defs := []struct {
		name string
		re   *regexp.Regexp
		f    func(string) bool
	}{
		{"handle", regexp.MustCompile(`^[a-z][a-z0-9_]{2,31}$`), ValidHandle},
		{"client id", regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`), ValidClientID},
		{"phone", regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`), ValidPhone},
		{"id", regexp.MustCompile(`^[a-z][a-z0-9]{1,40}$`), ValidID},
	}
	inputs := []string{"", "a", "ab", "abc", "Abc", "a_c", "a-c", "1ab", "abc\n", "u" + strings.Repeat("x", 40),
		"u" + strings.Repeat("x", 41), strings.Repeat("a", 32), strings.Repeat("a", 33), strings.Repeat("Z", 64),
		strings.Repeat("Z", 65), "+821012345678", "+0123456789", "+123456", "+1234567", "+1234567890123456", "+12a4567",
		"가나다", "ab c", "m-01", "r7abc", "p3xyz\x00"}
	for _, d := range defs {
		for _, in := range inputs {
			if got, want := d.f(in), d.re.MatchString(in); got != want {
				t.Errorf("%s(%q) = %v, the definition says %v", d.name, in, got, want)
			}
		}
	}
}

func TestAsErrorHidesInternals(t *testing.T) {
	e := Errorf(CodeForbidden, "no")
	if got := AsError(fmt.Errorf("wrapped: %w", e)); got != e {
		t.Errorf("AsError of a wrapped *Error = %v, want it unchanged", got)
	}
	got := AsError(errors.New("dial tcp 10.1.2.3: secret detail"))
	if got.Code != CodeInternal || strings.Contains(got.Message, "secret") {
		t.Errorf("AsError of an internal error = %+v", got)
	}
}
