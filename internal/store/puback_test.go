package store

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// pubAckSeeds are answers JetStream gives to a publish, and near misses.
var pubAckSeeds = []string{
	`{"stream":"MSG_03","seq":42}`,
	`{"stream":"MSG_03","seq":42,"duplicate":true}`,
	`{"stream":"MSG_03","domain":"hub","seq":18446744073709551615,"duplicate":false}`,
	`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 7"},"stream":"MSG_03","seq":0}`,
	`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`,
	`{"stream":"","seq":4}`,
	`{"stream":"x","seq":4,"seq":5}`,
	`{"stream":"x","Seq":4,"seq":5}`,
	`{"stream":"x","seq":04}`,
	`{"stream":"x","seq":4} `,
	`{"stream":"x","seq":4,"duplicate":"true"}`,
	`{"stream":"x","seq":-4}`,
	`{"stream":"x\"","seq":4}`,
	`{"stream": "x", "seq": 4}`,
	`{"stream":"x","seq":1e3}`,
	`{"stream":"x","val":"1","batch":"b","count":3,"seq":9}`,
	`{"stream":"x","seq":4`,
	`not json`,
	``,
}

func TestParsePubAck(t *testing.T) {
	cases := []struct {
		in      string
		seq     uint64
		dup     bool
		errCode jetstream.ErrorCode // 0: no API error
		invalid bool
	}{
		{in: pubAckSeeds[0], seq: 42},
		{in: pubAckSeeds[1], seq: 42, dup: true},
		{in: pubAckSeeds[2], seq: 18446744073709551615},
		{in: pubAckSeeds[3], errCode: jetstream.JSErrCodeStreamWrongLastSequence},
		{in: pubAckSeeds[5], invalid: true},
		{in: pubAckSeeds[6], seq: 5},  // encoding/json: the last one wins
		{in: pubAckSeeds[7], seq: 5},  // and keys match without case
		{in: pubAckSeeds[13], seq: 4}, // spaces: the full decoder
		{in: pubAckSeeds[15], seq: 9},
		{in: pubAckSeeds[17], invalid: true},
	}
	for _, c := range cases {
		seq, dup, apiErr, err := parsePubAck([]byte(c.in))
		switch {
		case c.invalid:
			if !errors.Is(err, jetstream.ErrInvalidJSAck) {
				t.Errorf("%s: err %v, want ErrInvalidJSAck", c.in, err)
			}
		case c.errCode != 0:
			if apiErr == nil || apiErr.ErrorCode != c.errCode {
				t.Errorf("%s: API error %v, want code %d", c.in, apiErr, c.errCode)
			}
		default:
			if err != nil || apiErr != nil || seq != c.seq || dup != c.dup {
				t.Errorf("%s: seq %d dup %v apiErr %v err %v; want seq %d dup %v", c.in, seq, dup, apiErr, err, c.seq, c.dup)
			}
		}
	}
	if _, _, ok := fastPubAck([]byte(pubAckSeeds[1])); !ok {
		t.Errorf("the usual duplicate answer is not read by the fast path")
	}
}

// FuzzPubAck checks that the fast reading of an answer, whenever it
// answers, agrees with encoding/json's.
func FuzzPubAck(f *testing.F) {
	for _, s := range pubAckSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, dup, ok := fastPubAck(b)
		if !ok {
			return
		}
		wseq, wdup, apiErr, err := decodePubAck(b)
		if err != nil || apiErr != nil || seq != wseq || dup != wdup {
			t.Fatalf("%q: fast read seq %d dup %v; encoding/json: seq %d dup %v apiErr %v err %v", b, seq, dup, wseq, wdup, apiErr, err)
		}
	})
}
