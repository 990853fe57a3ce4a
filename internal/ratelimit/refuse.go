package ratelimit

import "github.com/dandanchat/dandan/api"

// Check takes a token for key from l and returns nil, or the rate_limited
// error (with retry_after) that every transport answers with. A nil l
// allows everything. message is shown to the user.
func (l *Limiter) Check(key, message string) *api.Error {
	if l == nil {
		return nil
	}
	if ok, wait := l.Allow(key); !ok {
		return &api.Error{Code: api.CodeRateLimited, Message: message, RetryAfterMS: max(1, wait.Milliseconds())}
	}
	return nil
}
