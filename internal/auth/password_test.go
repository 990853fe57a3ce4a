package auth

import (
	"strings"
	"testing"
	"time"
)

func TestHashPasswordFormat(t *testing.T) {
	enc, err := HashPassword("correct horse", DefaultParams())
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if want := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(enc, want) {
		t.Errorf("HashPassword = %q, want prefix %q", enc, want)
	}
	parts := strings.Split(enc, "$")
	if got, want := len(parts[4]), 22; got != want { // 16 bytes
		t.Errorf("salt length = %d chars, want %d", got, want)
	}
	if got, want := len(parts[5]), 43; got != want { // 32 bytes
		t.Errorf("hash length = %d chars, want %d", got, want)
	}
	again, _ := HashPassword("correct horse", DefaultParams())
	if again == enc {
		t.Errorf("two hashes of the same password are equal: salt is not random")
	}
}

func TestVerifyPassword(t *testing.T) {
	enc, err := HashPassword("s3cret-pass", FastParams())
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	tests := []struct {
		name     string
		password string
		want     bool
	}{
		{"right", "s3cret-pass", true},
		{"wrong", "s3cret-pasS", false},
		{"empty", "", false},
		{"prefix", "s3cret-pas", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyPassword(enc, tt.password)
			if err != nil {
				t.Fatalf("VerifyPassword: %v", err)
			}
			if got != tt.want {
				t.Errorf("VerifyPassword(%q) = %v, want %v", tt.password, got, tt.want)
			}
		})
	}
}

// A hash keeps verifying with the parameters it was made with, whatever the
// current defaults.
func TestVerifyPasswordOldParams(t *testing.T) {
	old := Params{Memory: 128, Time: 3, Threads: 2, KeyLen: 16, SaltLen: 8}
	enc, err := HashPassword("pw", old)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if want := "$argon2id$v=19$m=128,t=3,p=2$"; !strings.HasPrefix(enc, want) {
		t.Fatalf("HashPassword = %q, want prefix %q", enc, want)
	}
	if ok, err := VerifyPassword(enc, "pw"); !ok || err != nil {
		t.Errorf("VerifyPassword = %v, %v; want true, nil", ok, err)
	}
}

func TestHashPasswordBadParams(t *testing.T) {
	tests := []struct {
		name string
		p    Params
	}{
		{"zero", Params{}},
		{"no threads", Params{Memory: 64, Time: 1, KeyLen: 32, SaltLen: 16}},
		{"huge memory", Params{Memory: 2 << 20, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}},
		{"short salt", Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := HashPassword("pw", tt.p); err == nil {
				t.Errorf("HashPassword(%+v) = %q, nil; want an error", tt.p, got)
			}
		})
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	good, err := HashPassword("pw", FastParams())
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	tests := []struct {
		name, enc string
	}{
		{"empty", ""},
		{"garbage", "not a hash"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"params order", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key},
		{"signed", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"missing param", "$argon2id$v=19$m=64,t=1$" + salt + "$" + key},
		{"memory over 1 GiB", "$argon2id$v=19$m=1048577,t=1,p=1$" + salt + "$" + key},
		{"memory overflow", "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key},
		{"time 17", "$argon2id$v=19$m=64,t=17,p=1$" + salt + "$" + key},
		{"time 0", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"threads 0", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"threads 256", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key},
		{"padded salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"bad base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:10] + "!" + key[11:]},
		{"newline in hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:10] + "\n" + key[10:]},
		{"empty hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=1$AAAA$" + key},
		{"extra field", good + "$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(tt.enc, "pw")
			if err == nil || ok {
				t.Errorf("VerifyPassword(%q) = %v, %v; want false and an error", tt.enc, ok, err)
			}
		})
	}
}

// DummyVerify must cost about as much as a real verification; a generous
// bound keeps the test stable on a loaded machine while still catching a
// DummyVerify that does nothing.
func TestDummyVerifyTakesTime(t *testing.T) {
	p := Params{Memory: 8 << 10, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}
	enc, err := HashPassword("pw", p)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	measure := func(f func()) time.Duration {
		best := time.Duration(1 << 62)
		for range 3 {
			start := time.Now()
			f()
			best = min(best, time.Since(start))
		}
		return best
	}
	real := measure(func() { VerifyPassword(enc, "wrong") })
	dummy := measure(func() { DummyVerify("wrong", p) })
	if dummy < real/3 {
		t.Errorf("DummyVerify took %v, VerifyPassword %v; want comparable", dummy, real)
	}
}

func BenchmarkVerifyDefault(b *testing.B) {
	enc, err := HashPassword("pw", DefaultParams())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		VerifyPassword(enc, "pw")
	}
}
