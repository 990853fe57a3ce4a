package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dandanchat/dandan/api"
)

const (
	maxResponseBytes = 32 << 20 // a history page of 500 events of 16 KiB fits
	maxErrorBytes    = 64 << 10

	// defaultRetryAfter is the wait before retrying a request refused for
	// load when the server did not say how long.
	defaultRetryAfter = 100 * time.Millisecond
)

// request is one HTTP call.
type request struct {
	method string
	path   string // already escaped, starting with /v1/
	query  url.Values
	in     any // JSON body, or nil
	out    any // decoded from a 2xx answer, or nil
	noAuth bool
}

// do runs r against the current server; on a network error, or a server
// cut off from its cluster, it retries once on the next server. A refusal for
// load is retried on the same server (see call). Server errors are *api.Error.
func (c *Client) do(ctx context.Context, r request) error {
	var body []byte
	if r.in != nil {
		b, err := json.Marshal(r.in)
		if err != nil {
			return fmt.Errorf("client: encode %s %s: %w", r.method, r.path, err)
		}
		if len(b) > api.MaxHTTPBody {
			return api.Errorf(api.CodeTooLarge, "request body is larger than %d bytes", api.MaxHTTPBody)
		}
		body = b
	}
	target := r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	idx := c.cur.Load()
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		base := c.bases[idx%uint64(len(c.bases))]
		var answered bool
		answered, err = c.call(ctx, r, base+target, body)
		if answered && !api.IsCode(err, api.CodeCutOff) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		c.log.Debug("client: request failed, trying next server", "method", r.method, "path", r.path, "server", base, "err", err)
		c.cur.CompareAndSwap(idx, idx+1) // move everyone on, once
		idx++
	}
	return err
}

// call runs r on one server. When the server refuses it as overloaded or
// rate_limited, it waits as asked and tries again, up to overloadRetries
// times: such refusals come before any work, so every request (POST too) is
// safe to repeat. answered is false if the last attempt got no answer (a
// network error).
func (c *Client) call(ctx context.Context, r request, u string, body []byte) (answered bool, err error) {
	for n := 0; ; n++ {
		var resp *http.Response
		if resp, err = c.roundTrip(ctx, r, u, body); err != nil {
			return false, err
		}
		err = c.decode(resp, r)
		d, ok := c.refusalWait(ctx, err, n)
		if !ok {
			return true, err
		}
		c.log.Debug("client: request refused, retrying", "method", r.method, "path", r.path, "in", d, "err", err)
		if !sleepCtx(ctx, d) {
			return true, err
		}
	}
}

// refusalWait says whether err, the answer after n retries, is a refusal for
// load to retry once more, and after how long: the retry_after asked (100ms if
// none) plus up to a quarter more. It is not retried if that wait would
// outlast ctx: the caller gets the refusal at once instead.
func (c *Client) refusalWait(ctx context.Context, err error, n int) (time.Duration, bool) {
	e := asAPIError(err)
	if e == nil || e.Code != api.CodeOverloaded && e.Code != api.CodeRateLimited || n >= c.overloadRetries || ctx.Err() != nil {
		return 0, false
	}
	d := e.RetryAfter()
	if d <= 0 {
		d = defaultRetryAfter
	}
	d += rand.N(d/4 + 1)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return 0, false
	}
	return d, true
}

func (c *Client) roundTrip(ctx context.Context, r request, u string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", r.method, r.path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if tok := c.Token(); tok != "" && !r.noAuth {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return c.hc.Do(req)
}

func (c *Client) decode(resp *http.Response, r request) error {
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return errorFromResponse(resp)
	}
	if r.out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes)) // lets the connection be reused
		return nil
	}
	lr := &io.LimitedReader{R: resp.Body, N: maxResponseBytes + 1}
	if err := json.NewDecoder(lr).Decode(r.out); err != nil {
		if lr.N <= 0 {
			return fmt.Errorf("client: %s %s: answer larger than %d bytes", r.method, r.path, maxResponseBytes)
		}
		return fmt.Errorf("client: %s %s: decode answer: %w", r.method, r.path, err)
	}
	return nil
}

// errorFromResponse turns an error answer into an *api.Error: the JSON body
// if there is one, else a code derived from the status.
func errorFromResponse(resp *http.Response) *api.Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	var eb api.ErrorBody
	e := &api.Error{}
	if json.Unmarshal(b, &eb) == nil && eb.Error != nil && eb.Error.Code != "" {
		e = eb.Error
	} else {
		e.Code = codeForStatus(resp.StatusCode)
		e.Message = strings.TrimSpace(string(b))
		if e.Message == "" || len(e.Message) > 200 || !isText(e.Message) {
			e.Message = resp.Status
		}
	}
	if e.RetryAfterMS == 0 {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfterMS = int64(s) * 1000
		}
	}
	return e
}

func isText(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\t' {
			return false
		}
	}
	return true
}

func codeForStatus(status int) api.Code {
	switch status {
	case http.StatusBadRequest:
		return api.CodeBadRequest
	case http.StatusUnauthorized:
		return api.CodeUnauthorized
	case http.StatusForbidden:
		return api.CodeForbidden
	case http.StatusNotFound:
		return api.CodeNotFound
	case http.StatusConflict:
		return api.CodeConflict
	case http.StatusRequestEntityTooLarge:
		return api.CodeTooLarge
	case http.StatusTooManyRequests:
		return api.CodeRateLimited
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return api.CodeUnavailable
	default:
		return api.CodeInternal
	}
}

// seg escapes one path segment, refusing an empty one.
func seg(what, s string) (string, error) {
	if s == "" {
		return "", api.Errorf(api.CodeInvalid, "%s is empty", what)
	}
	return url.PathEscape(s), nil
}

// isRetryable reports whether code asks to try again later.
func isRetryable(c api.Code) bool {
	return c == api.CodeRateLimited || c == api.CodeOverloaded || c == api.CodeUnavailable || c == api.CodeCutOff
}

// asAPIError returns err's *api.Error, or nil.
func asAPIError(err error) *api.Error {
	var e *api.Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
