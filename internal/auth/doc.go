// Package auth hashes passwords, mints and checks device tokens and generates
// server-assigned ids.
//
// Passwords are hashed with argon2id and stored as PHC strings, so the cost
// parameters travel with each hash and old hashes keep verifying after the
// defaults change. Device tokens are high-entropy random secrets, so only
// their SHA-256 is stored and checking one is cheap.
//
// Example:
//
//	enc, err := auth.HashPassword(password, auth.DefaultParams())
//	if err != nil {
//		return err
//	}
//	ok, err := auth.VerifyPassword(enc, attempt)
//
//	device := auth.NewID('d')
//	token, secretHash, err := auth.NewToken(device) // give token to the client, store secretHash
//	id, secret, ok := auth.ParseToken(token)
//	valid := ok && id == device && auth.SecretMatches(secret, secretHash)
package auth
