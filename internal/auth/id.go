package auth

import (
	"crypto/rand"
	"encoding/base32"
)

// idEncoding is lower-case base32 (a-z, 2-7). It is never modified.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns prefix followed by 16 random lower-case base32 characters
// (80 bits), e.g. NewID('u') = "u3kq7zt2m4xa6bcde". prefix must be a
// lower-case ASCII letter so that the id satisfies api.ValidID; any other
// prefix is a programming error and panics.
func NewID(prefix byte) string {
	if prefix < 'a' || prefix > 'z' {
		panic("auth.NewID: prefix must be a lower-case letter")
	}
	var b [10]byte
	rand.Read(b[:]) // never fails
	out := make([]byte, 1, 17)
	out[0] = prefix
	return string(idEncoding.AppendEncode(out, b[:]))
}
