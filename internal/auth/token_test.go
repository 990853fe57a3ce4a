package auth

import (
	"strings"
	"testing"

	"github.com/dandanchat/dandan/api"
)

func TestNewToken(t *testing.T) {
	tok, hash, err := NewToken("dabc123")
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	id, secret, ok := ParseToken(tok)
	if !ok {
		t.Fatalf("ParseToken(%q) not ok", tok)
	}
	if id != "dabc123" {
		t.Errorf("device id = %q, want %q", id, "dabc123")
	}
	if len(secret) != 43 {
		t.Errorf("secret length = %d, want 43", len(secret))
	}
	if !SecretMatches(secret, hash) {
		t.Errorf("SecretMatches(secret, hash) = false, want true")
	}
	if got, want := len(hash), 64; got != want {
		t.Errorf("hash length = %d, want %d", got, want)
	}
	tok2, hash2, _ := NewToken("dabc123")
	if tok2 == tok || hash2 == hash {
		t.Errorf("two tokens are equal: secret is not random")
	}
	if SecretMatches(secret, hash2) {
		t.Errorf("SecretMatches(secret, other hash) = true, want false")
	}
}

func TestNewTokenBadDevice(t *testing.T) {
	for _, id := range []string{"", "D1", "a", "a.b", "1abc", strings.Repeat("a", 42)} {
		if tok, _, err := NewToken(id); err == nil {
			t.Errorf("NewToken(%q) = %q, nil; want an error", id, tok)
		}
	}
}

func TestParseToken(t *testing.T) {
	secret := strings.Repeat("A", 42) + "Q" // 43 chars, canonical
	tests := []struct {
		name, token string
		ok          bool
	}{
		{"valid", "dabc." + secret, true},
		{"valid url alphabet", "dabc." + strings.Repeat("-_", 21) + "w", true},
		{"no dot", "dabc" + secret, false},
		{"two dots", "dabc." + secret[:20] + "." + secret[21:], false},
		{"empty", "", false},
		{"empty id", "." + secret, false},
		{"upper id", "Dabc." + secret, false},
		{"one-letter id", "d." + secret, false},
		{"id too long", "d" + strings.Repeat("a", 41) + "." + secret, false},
		{"short secret", "dabc." + secret[1:], false},
		{"long secret", "dabc." + secret + "A", false},
		{"std alphabet", "dabc." + strings.Repeat("+/", 21) + "w", false},
		{"newline", "dabc." + secret[:20] + "\n" + secret[21:], false},
		{"carriage return", "dabc." + secret[:20] + "\r" + secret[21:], false},
		{"padding", "dabc." + secret[:42] + "=", false},
		{"non-canonical", "dabc." + strings.Repeat("A", 42) + "B", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, sec, ok := ParseToken(tt.token)
			if ok != tt.ok {
				t.Fatalf("ParseToken(%q) ok = %v, want %v", tt.token, ok, tt.ok)
			}
			if ok && id+"."+sec != tt.token {
				t.Errorf("ParseToken(%q) = %q, %q; do not rejoin to the token", tt.token, id, sec)
			}
			if !ok && (id != "" || sec != "") {
				t.Errorf("ParseToken(%q) = %q, %q, false; want empty parts", tt.token, id, sec)
			}
		})
	}
}

func TestHashSecret(t *testing.T) {
	// SHA-256("abc"), a published test vector.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := HashSecret("abc"); got != want {
		t.Errorf("HashSecret(abc) = %s, want %s", got, want)
	}
	tests := []struct {
		secret, stored string
		want           bool
	}{
		{"abc", want, true},
		{"abd", want, false},
		{"abc", strings.ToUpper(want), false},
		{"abc", want[:63], false},
		{"abc", "", false},
	}
	for _, tt := range tests {
		if got := SecretMatches(tt.secret, tt.stored); got != tt.want {
			t.Errorf("SecretMatches(%q, %q) = %v, want %v", tt.secret, tt.stored, got, tt.want)
		}
	}
}

func TestNewID(t *testing.T) {
	seen := make(map[string]bool)
	for _, prefix := range []byte("audrz") {
		for range 200 {
			id := NewID(prefix)
			if len(id) != 17 || id[0] != prefix || !api.ValidID(id) {
				t.Fatalf("NewID(%q) = %q, want %q + 16 base32 chars and api.ValidID", prefix, id, prefix)
			}
			if strings.ContainsAny(id[1:], "0189") {
				t.Fatalf("NewID(%q) = %q, has a character outside a-z2-7", prefix, id)
			}
			if seen[id] {
				t.Fatalf("NewID(%q) = %q twice", prefix, id)
			}
			seen[id] = true
		}
	}
}

func TestNewIDBadPrefix(t *testing.T) {
	for _, prefix := range []byte{'A', '1', '_', 0} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewID(%q) did not panic", prefix)
				}
			}()
			NewID(prefix)
		}()
	}
}
