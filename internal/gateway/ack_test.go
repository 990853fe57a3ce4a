package gateway

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/dandanchat/dandan/api"
)

func TestAckFrameMatchesJSON(t *testing.T) {
	for _, a := range []api.Ack{
		{ID: "m-1", Room: "pabc", Seq: 12, Time: 1763770001234},
		{ID: "x_Y-9", Room: "r2", Seq: 1, Time: 0, Duplicate: true},
	} {
		var got api.ServerFrame
		if err := json.Unmarshal(ackFrame(&a), &got); err != nil {
			t.Fatalf("ackFrame(%+v) is not JSON: %v", a, err)
		}
		want := api.ServerFrame{Type: api.FrameAck, ID: a.ID, Ack: &a}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ackFrame(%+v) decodes to %+v", a, got)
		}
	}
}
