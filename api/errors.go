package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Code is a stable, machine-readable error code. Codes are never renamed or
// reused; clients branch on them, never on the message text.
type Code string

// The error codes. The HTTP status each maps to is in Code.HTTPStatus.
const (
	CodeBadRequest     Code = "bad_request"     // malformed JSON or frame, missing field
	CodeInvalid        Code = "invalid"         // a field fails validation (see message)
	CodeTooLarge       Code = "too_large"       // body, frame or text over its limit
	CodeUnauthorized   Code = "unauthorized"    // missing, malformed, revoked or wrong token
	CodeBadCredentials Code = "bad_credentials" // sign-in with a wrong handle or password
	CodeForbidden      Code = "forbidden"       // authenticated, but not allowed (e.g. not a member)
	CodeNotFound       Code = "not_found"       // no such room, user, device or message
	CodeHandleTaken    Code = "handle_taken"    // sign-up with a handle already in use
	CodeRoomFull       Code = "room_full"       // the room is at its member limit
	CodeConflict       Code = "conflict"        // the request contradicts current state
	CodeRateLimited    Code = "rate_limited"    // too many requests; retry after RetryAfterMS
	CodeOverloaded     Code = "overloaded"      // the node sheds load; retry after RetryAfterMS
	CodeUnavailable    Code = "unavailable"     // storage temporarily unavailable; retry
	CodeSlowConsumer   Code = "slow_consumer"   // the WebSocket fell behind and is closed; resync
	CodeCutOff         Code = "cut_off"         // this node cannot reach the cluster's majority; use another site
	CodeInternal       Code = "internal"        // a bug or an unexpected failure; details are logged
)

// HTTPStatus is the HTTP status code that carries c.
func (c Code) HTTPStatus() int {
	switch c {
	case CodeBadRequest, CodeInvalid:
		return http.StatusBadRequest
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnauthorized, CodeBadCredentials:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeHandleTaken, CodeConflict, CodeRoomFull:
		return http.StatusConflict
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeOverloaded, CodeUnavailable, CodeCutOff:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Error is the error body of every failed request and the payload of an
// "error" frame. Message is safe to show to users; internal detail is only
// logged by the server.
type Error struct {
	Code         Code   `json:"code"`
	Message      string `json:"message"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
}

// ErrorBody is the JSON body of an HTTP error response.
type ErrorBody struct {
	Error *Error `json:"error"`
}

func (e *Error) Error() string {
	if e.RetryAfterMS > 0 {
		return fmt.Sprintf("%s: %s (retry after %dms)", e.Code, e.Message, e.RetryAfterMS)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// RetryAfter is how long the server asked the client to wait, or zero.
func (e *Error) RetryAfter() time.Duration {
	return time.Duration(e.RetryAfterMS) * time.Millisecond
}

// Errorf returns an *Error with code c and a formatted, user-safe message.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error to send to a client: err itself if it is
// (or wraps) one, else a generic internal error that reveals nothing.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Errorf(CodeInternal, "internal error")
}

// CodeOf returns the code of err if it is (or wraps) an *Error, else CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// IsCode reports whether err is (or wraps) an *Error with code c.
func IsCode(err error, c Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == c
}
