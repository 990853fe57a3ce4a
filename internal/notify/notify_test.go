package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
)

// Delivery itself (queue, retries, webhook, SMTP) is tested on a real node:
// internal/node TestSubscribersAreNotified and TestStatusFollowsADataCentre.

func TestSign(t *testing.T) {
	body := []byte(`{"event":"incident.opened"}`)
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write(body)
	if got, want := Sign("s3cret", body), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	if Sign("other", body) == Sign("s3cret", body) {
		t.Error("the signature does not depend on the secret")
	}
}

func TestInterested(t *testing.T) {
	inc := api.Incident{Components: []string{"dc:dc2", "messaging"}}
	for _, c := range []struct {
		sub  []string
		want bool
	}{{nil, true}, {[]string{"messaging"}, true}, {[]string{"signin", "dc:dc2"}, true}, {[]string{"signin"}, false}} {
		if got := Interested(api.Subscriber{Components: c.sub}, inc); got != c.want {
			t.Errorf("components %v: interested %v, want %v", c.sub, got, c.want)
		}
	}
}

// An email is a well-formed message: CRLF line ends, a UTF-8 subject that
// decodes to the incident's, the updates in the body.
func TestEmail(t *testing.T) {
	note := api.Notification{Event: api.NotifyUpdated, PageURL: "https://chat.example/status", Incident: api.Incident{
		Name: "Data centre dc2 unreachable", Status: api.IncidentIdentified, Severity: api.SEV1, Impact: "critical",
		Components: []string{"dc:dc2"},
		Updates: []api.IncidentUpdate{{Status: api.IncidentIdentified, Body: "Failed over.\n.\nStill fine."},
			{Status: api.IncidentInvestigating, Body: "Looking into it."}}}}
	msg := string(message("status@chat.example", "ops@example.com", subject(note), text(note), time.Unix(0, 0)))
	head, body, ok := strings.Cut(msg, "\r\n\r\n")
	if !ok {
		t.Fatalf("no blank line between header and body:\n%s", msg)
	}
	if strings.Contains(strings.ReplaceAll(msg, "\r\n", ""), "\n") {
		t.Error("a bare LF in the message")
	}
	var subj string
	for _, l := range strings.Split(head, "\r\n") {
		if s, ok := strings.CutPrefix(l, "Subject: "); ok {
			subj, _ = new(mime.WordDecoder).DecodeHeader(s)
		}
	}
	if subj != "[SEV1] Data centre dc2 unreachable — Identified" {
		t.Errorf("subject %q", subj)
	}
	for _, want := range []string{"Status: Identified", "Affected: dc:dc2", "Failed over.", "Looking into it.", "Status page: https://chat.example/status"} {
		if !strings.Contains(body, want) {
			t.Errorf("the body lacks %q:\n%s", want, body)
		}
	}
}
