package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// b64 is the PHC encoding of salts and hashes: standard alphabet, no padding,
// canonical (no stray bits), so each hash has exactly one encoding.
var b64 = base64.RawStdEncoding.Strict()

// HashPassword hashes password with argon2id and a fresh random salt and
// returns a PHC string:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
func HashPassword(password string, p Params) (string, error) {
	if err := p.check(); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	rand.Read(salt) // never fails
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encodePHC(p, salt, key), nil
}

// VerifyPassword reports whether password matches the PHC string encoded.
// The parameters are read from encoded, not from the current defaults. A
// malformed string, or one with out-of-bounds parameters, is an error.
func VerifyPassword(encoded, password string) (bool, error) {
	h, err := parsePHC(encoded)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	key := argon2.IDKey([]byte(password), h.salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// DummyVerify spends as long as VerifyPassword on a hash made with p, and
// returns nothing. Call it when a sign-in names an unknown handle so that the
// response time does not reveal which handles exist.
func DummyVerify(password string, p Params) {
	if p.check() != nil {
		p = DefaultParams()
	}
	salt := make([]byte, p.SaltLen)
	want := make([]byte, p.KeyLen)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	subtle.ConstantTimeCompare(key, want)
}

type phc struct {
	params Params
	salt   []byte
	key    []byte
}

func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// parsePHC parses the strict form written by encodePHC: any other spelling
// of the same hash (parameter order, leading zeros, padding) is refused.
func parsePHC(s string) (phc, error) {
	var h phc
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return h, errors.New("malformed hash: want 5 $-separated fields")
	}
	if parts[1] != "argon2id" {
		return h, fmt.Errorf("unsupported algorithm %q", trunc(parts[1]))
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, fmt.Errorf("unsupported version %q", trunc(parts[2]))
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return h, errors.New("malformed parameters: want m=,t=,p=")
	}
	m, err := parseParam(kv[0], "m", 32)
	if err != nil {
		return h, err
	}
	t, err := parseParam(kv[1], "t", 32)
	if err != nil {
		return h, err
	}
	p, err := parseParam(kv[2], "p", 8)
	if err != nil {
		return h, err
	}
	if h.salt, err = decodeB64(parts[4]); err != nil {
		return h, fmt.Errorf("malformed salt: %w", err)
	}
	if h.key, err = decodeB64(parts[5]); err != nil {
		return h, fmt.Errorf("malformed hash: %w", err)
	}
	h.params = Params{
		Memory:  uint32(m),
		Time:    uint32(t),
		Threads: uint8(p),
		KeyLen:  uint32(len(h.key)),
		SaltLen: uint32(len(h.salt)),
	}
	if err := h.params.check(); err != nil {
		return h, fmt.Errorf("refused parameters: %w", err)
	}
	return h, nil
}

// parseParam parses "name=<decimal>" with no sign and no leading zero.
func parseParam(s, name string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, name+"=")
	if !ok || v == "" || (v[0] == '0' && len(v) > 1) || v[0] < '0' || v[0] > '9' {
		return 0, fmt.Errorf("malformed parameter %q", trunc(s))
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("malformed parameter %q", trunc(s))
	}
	return n, nil
}

// decodeB64 decodes strictly; unlike the bare decoder it also refuses the
// newlines that encoding/base64 silently skips.
func decodeB64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("newline in base64")
	}
	return b64.DecodeString(s)
}

func trunc(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
