package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/dandanchat/dandan/api"
)

const (
	secretBytes = 32
	secretLen   = 43 // base64url, no padding, of secretBytes
)

// NewToken mints a device token "<deviceID>.<secret>" for deviceID. The token
// goes to the client once; only secretHash is stored.
func NewToken(deviceID string) (token, secretHash string, err error) {
	if !api.ValidID(deviceID) {
		return "", "", fmt.Errorf("new token: invalid device id %q", trunc(deviceID))
	}
	b := make([]byte, secretBytes)
	rand.Read(b) // never fails
	secret := base64.RawURLEncoding.EncodeToString(b)
	return deviceID + "." + secret, HashSecret(secret), nil
}

// ParseToken splits a token into its device id and secret. It is strict: one
// dot, a device id that is a valid id, and a secret of exactly 43 canonical
// base64url characters.
func ParseToken(token string) (deviceID, secret string, ok bool) {
	deviceID, secret, found := strings.Cut(token, ".")
	if !found || len(secret) != secretLen || !api.ValidID(deviceID) {
		return "", "", false
	}
	for i := range len(secret) {
		if !isBase64URL(secret[i]) {
			return "", "", false
		}
	}
	// 43 characters carry 258 bits: the last two must be zero.
	if _, err := base64.RawURLEncoding.Strict().DecodeString(secret); err != nil {
		return "", "", false
	}
	return deviceID, secret, true
}

// HashSecret is the stored form of a token secret: its SHA-256, in hex. A
// plain hash is enough (and cheap, which matters during reconnect storms)
// because a secret has 256 bits of entropy.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretMatches reports, in constant time, whether secret hashes to
// storedHash.
func SecretMatches(secret, storedHash string) bool {
	return subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(storedHash)) == 1
}

func isBase64URL(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
