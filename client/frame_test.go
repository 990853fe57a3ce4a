package client

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dandanchat/dandan/api"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// highBitText is an event whose text has DEL, non-ASCII letters and the
// byte 0xDC (a backslash, 0x5C, with the high bit) across eight-byte
// blocks: the fast path must take it.
const highBitText = "{\"type\":\"event\",\"event\":{\"room\":\"g-1\",\"seq\":1,\"text\":\"abcdefg\x7fÜÜÜÜÜ\u0700\u0700\u0700\u0700\"}}"

var frameSeeds = []string{
	`{"type":"ack","id":"c-1","ack":{"id":"c-1","room":"d-ab","seq":42,"ts":1763800000000}}`,
	`{"type":"ack","id":"c-1","ack":{"id":"c-1","room":"d-ab","seq":42,"ts":1763800000000,"duplicate":true}}`,
	`{"type":"event","event":{"room":"d-ab","seq":7,"type":"message","sender":"u-1","client_id":"c-9","ts":1763800000000,"text":"안녕 hello","reply_to":3}}`,
	`{"type":"event","event":{"room":"g-1","seq":8,"type":"message.edited","sender":"u-1","ts":-5,"text":"x","target":7}}`,
	`{"type":"event","event":{"room":"g-1","seq":9,"type":"member.joined","sender":"u-1","ts":1,"user":"u-2","name":"n","kind":"group","deleted":false}}`,
	`{"type":"event","event":{"room":"g-1","seq":9,"type":"message","sender":"u-1","ts":1,"text":"a \"quoted\"\nline \u003cb\u003e"}}`,
	`{"type":"event","event":{"room":"g-1","seq":9,"seq":10}}`,
	`{"type":"event","event":{"Room":"g-1"}}`,
	`{"type":"event","event":{"room":"g-1","seq":09}}`,
	`{"type":"event","event":{"room":"g-1","seq":1e3}}`,
	`{"type":"event","event":{"room":"g-1","seq":-1}}`,
	`{"type":"room","room":{"id":"g-1","last_seq":4}}`,
	`{"type":"error","id":"c-1","ref":"send","error":{"code":"forbidden","message":"no"}}`,
	`{"type":"ack","id":"c-1"} `,
	`{"type": "ack"}`,
	`{"type":"ack","id":"\xff"}`,
	// Texts the eight-bytes-at-a-time check reads: escapes (backslashes) in
	// the second and third block, raw control characters in a block and in
	// the tail, bytes with the high bit (Ü is 0xC3 0x9C) and a broken UTF-8
	// sequence, and an escaped backslash just before the closing quote.
	`{"type":"event","event":{"room":"g-1","seq":1,"text":"abcdefgh\\ijklmnop"}}`,
	`{"type":"event","event":{"room":"g-1","seq":1,"text":"abcdefghijklmno\tp"}}`,
	"{\"type\":\"event\",\"event\":{\"room\":\"g-1\",\"seq\":1,\"text\":\"abcdefgh\x01ijklmnop\"}}",
	"{\"type\":\"event\",\"event\":{\"room\":\"g-1\",\"seq\":1,\"text\":\"abcdefghijklmnop\x1f\"}}",
	"{\"type\":\"event\",\"event\":{\"room\":\"g-1\",\"seq\":1,\"text\":\"abcdefgh\xc3ijklmnop\"}}",
	"{\"type\":\"event\",\"event\":{\"room\":\"g-1\",\"seq\":1,\"text\":\"abcdefgh12345\\\\\"}}",
	highBitText,
	`{"type":"ack","ack":null}`,
	`{}`,
	``,
}

func TestDecodeFrame(t *testing.T) {
	for _, s := range frameSeeds {
		var fast, full api.ServerFrame
		ferr := decodeFrame([]byte(s), &fast)
		werr := jsonv1.Unmarshal([]byte(s), &full)
		if (ferr == nil) != (werr == nil) || ferr == nil && !reflect.DeepEqual(fast, full) {
			t.Errorf("%s:\n decodeFrame %+v, %v\n json       %+v, %v", s, fast, ferr, full, werr)
		}
	}
	// The server's usual frames take the fast path, and so does a text of
	// bytes the eight-bytes-at-a-time check must let through.
	fast := append(frameSeeds[:5:5], highBitText)
	for _, s := range fast {
		var f api.ServerFrame
		if !fastFrame([]byte(s), &f) {
			t.Errorf("%s: not read by the fast path", s)
		}
	}
	var f api.ServerFrame
	if fastFrame([]byte(frameSeeds[5]), &f) {
		t.Errorf("a text with escapes was read by the fast path")
	}
}

// FuzzFrame checks that whenever the fast path reads a frame, it reads it
// exactly as the JSON decoder does.
func FuzzFrame(f *testing.F) {
	for _, s := range frameSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast api.ServerFrame
		if !fastFrame(b, &fast) {
			return
		}
		var full api.ServerFrame
		if err := jsonv1.Unmarshal(b, &full); err != nil {
			t.Fatalf("%q: read by the fast path as %+v, but the JSON decoder fails: %v", b, fast, err)
		}
		if !reflect.DeepEqual(fast, full) {
			t.Fatalf("%q:\n fast %+v\n json %+v", b, fast, full)
		}
	})
}

// BenchmarkDecodeFrame decodes the frame a device gets most: an event with a
// 100-byte text (dandan bench's default size).
func BenchmarkDecodeFrame(b *testing.B) {
	frame := []byte(`{"type":"event","event":{"room":"g-0123456789abcdef","seq":123456,"type":"message","sender":"u-0123456789abcdef","client_id":"c-0123456789abcdef0123","ts":1763800000000,"text":"` +
		strings.Repeat("hello dandan ", 7) + `hello dand"}}`)
	if !fastFrame(frame, &api.ServerFrame{}) {
		b.Fatal("the frame does not take the fast path")
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		var f api.ServerFrame
		if err := decodeFrame(frame, &f); err != nil || f.Event == nil {
			b.Fatalf("decoded %+v, %v", f, err)
		}
	}
}

// FuzzPlain checks the eight-bytes-at-a-time string check against the
// obvious byte-by-byte one.
func FuzzPlain(f *testing.F) {
	for _, s := range []string{
		"", "hello", "abcdefgh\\ijk", "abc\\defghijk", "abcdefghijklmn\x1fop", "abcdefghij\x00",
		"\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f", "Üabcdefgh", "abcdefgh\xc3",
		"\u0700\u0700\u0700\u0700", // 0xDC 0x80: a backslash with the high bit
		"ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞß", // continuation bytes 0x80–0x9F
		"\u00a0\u00a0\u00a0\u00a0 ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := utf8.ValidString(s)
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] == '\\' {
				want = false
			}
		}
		if got := plain(s); got != want {
			t.Fatalf("plain(%q) = %v, want %v", s, got, want)
		}
	})
}
