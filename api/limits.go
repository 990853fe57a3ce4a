package api

import (
	"regexp"
	"unicode/utf8"
)

// Limits every request must respect. The server enforces them and the SDK
// checks them before sending, so a user learns of a violation at once.
const (
	MaxTextBytes        = 16 << 10 // a message's text, in bytes of UTF-8
	MaxHTTPBody         = 64 << 10 // any HTTP request body
	MaxFrameBytes       = 64 << 10 // any WebSocket frame from a client
	MaxClientIDLen      = 64
	MaxDisplayNameBytes = 64
	MaxRoomNameBytes    = 128
	MaxDeviceNameBytes  = 64
	MinPasswordLen      = 8
	MaxPasswordLen      = 256
	MaxPageLimit        = 500 // events per history page
	DefaultPageLimit    = 50
	MaxInvite           = 256 // users invited by one request
)

var (
	handleRE   = regexp.MustCompile(`^[a-z][a-z0-9_]{2,31}$`)
	clientIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	phoneRE    = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	idRE       = regexp.MustCompile(`^[a-z][a-z0-9]{1,40}$`)
)

// ValidHandle reports whether h is a well-formed handle: 3–32 characters,
// lower-case letters, digits and underscores, starting with a letter.
func ValidHandle(h string) bool { return handleRE.MatchString(h) }

// ValidClientID reports whether id is a well-formed client message id.
func ValidClientID(id string) bool { return clientIDRE.MatchString(id) }

// ValidPhone reports whether p is an E.164 phone number such as +821012345678.
func ValidPhone(p string) bool { return phoneRE.MatchString(p) }

// ValidID reports whether id has the shape of a server-assigned id (user,
// device or room). It guards every id that is used as a storage key.
func ValidID(id string) bool { return idRE.MatchString(id) }

// CheckText validates a message text.
func CheckText(s string) *Error {
	switch {
	case s == "":
		return Errorf(CodeInvalid, "text is empty")
	case len(s) > MaxTextBytes:
		return Errorf(CodeTooLarge, "text is longer than %d bytes", MaxTextBytes)
	case !utf8.ValidString(s):
		return Errorf(CodeInvalid, "text is not valid UTF-8")
	}
	return nil
}

// CheckName validates a display, room or device name of at most max bytes.
func CheckName(what, s string, max int) *Error {
	switch {
	case len(s) > max:
		return Errorf(CodeTooLarge, "%s is longer than %d bytes", what, max)
	case !utf8.ValidString(s):
		return Errorf(CodeInvalid, "%s is not valid UTF-8", what)
	}
	return nil
}
