package api

import "unicode/utf8"

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

// The validators are hand-written loops rather than regular expressions:
// they run several times for every message.

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// ValidHandle reports whether h is a well-formed handle: 3–32 characters,
// lower-case letters, digits and underscores, starting with a letter.
func ValidHandle(h string) bool {
	if len(h) < 3 || len(h) > 32 || !isLower(h[0]) {
		return false
	}
	for i := 1; i < len(h); i++ {
		if c := h[i]; !isLower(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

// ValidClientID reports whether id is a well-formed client message id:
// 1–64 characters A-Z a-z 0-9 _ -.
func ValidClientID(id string) bool {
	if len(id) < 1 || len(id) > MaxClientIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isLower(c) && !isDigit(c) && !(c >= 'A' && c <= 'Z') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// ValidPhone reports whether p is an E.164 phone number such as +821012345678.
func ValidPhone(p string) bool {
	if len(p) < 8 || len(p) > 16 || p[0] != '+' || p[1] < '1' || p[1] > '9' {
		return false
	}
	for i := 2; i < len(p); i++ {
		if !isDigit(p[i]) {
			return false
		}
	}
	return true
}

// ValidID reports whether id has the shape of a server-assigned id (user,
// device or room): 2–41 lower-case letters and digits, starting with a
// letter. It guards every id that is used as a storage key or subject.
func ValidID(id string) bool {
	if len(id) < 2 || len(id) > 41 || !isLower(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !isLower(c) && !isDigit(c) {
			return false
		}
	}
	return true
}

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
