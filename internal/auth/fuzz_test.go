package auth

import (
	"testing"

	"github.com/dandanchat/dandan/api"
)

// FuzzParsePHC checks that parsing never panics, that whatever it accepts is
// within bounds and re-encodes to exactly the input (one spelling per hash),
// and that VerifyPassword agrees with it.
func FuzzParsePHC(f *testing.F) {
	good, err := HashPassword("pw", FastParams())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		good,
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$v=19$m=64,t=1,p=1$$",
		"$argon2id$v=19$m=4294967295,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=64,t=1,p=0$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2i$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"$$$$$",
		"",
		"$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA$",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if err != nil {
			if ok, verr := VerifyPassword(s, "pw"); ok || verr == nil {
				t.Fatalf("parsePHC(%q) failed but VerifyPassword = %v, %v", s, ok, verr)
			}
			return
		}
		if cerr := h.params.check(); cerr != nil {
			t.Fatalf("parsePHC(%q) accepted out-of-bounds params: %v", s, cerr)
		}
		if got := encodePHC(h.params, h.salt, h.key); got != s {
			t.Fatalf("parsePHC(%q) re-encodes to %q", s, got)
		}
		// Only run argon2 when it is cheap: the fuzzer may find valid but
		// expensive parameters.
		if h.params.Memory <= 1024 && h.params.Time <= 2 {
			if _, verr := VerifyPassword(s, "pw"); verr != nil {
				t.Fatalf("parsePHC(%q) ok but VerifyPassword: %v", s, verr)
			}
		}
	})
}

func FuzzParseToken(f *testing.F) {
	tok, _, err := NewToken("dabc")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{tok, "", ".", "a.b", "dabc..", "dabc." + tok, "Dabc" + tok[4:], tok + "="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, ok := ParseToken(s)
		if !ok {
			if id != "" || secret != "" {
				t.Fatalf("ParseToken(%q) = %q, %q, false; want empty parts", s, id, secret)
			}
			return
		}
		if id+"."+secret != s {
			t.Fatalf("ParseToken(%q) = %q, %q; do not rejoin to the input", s, id, secret)
		}
		if !api.ValidID(id) || len(secret) != 43 {
			t.Fatalf("ParseToken(%q) accepted id %q, secret %q", s, id, secret)
		}
	})
}
