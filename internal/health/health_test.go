package health

import (
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
)

func TestUptime(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	incs := []api.Incident{
		// 30 minutes of major outage of dc2 yesterday, resolved.
		{Components: []string{"dc:dc2"}, Severity: api.SEV1,
			CreatedAt: stamp(time.Date(2026, 11, 21, 23, 45, 0, 0, time.UTC)), ResolvedAt: stamp(time.Date(2026, 11, 22, 0, 15, 0, 0, time.UTC))},
		// Degraded messaging three days ago: not an outage.
		{Components: []string{Messaging}, Severity: api.SEV3,
			CreatedAt: stamp(time.Date(2026, 11, 19, 10, 0, 0, 0, time.UTC)), ResolvedAt: stamp(time.Date(2026, 11, 19, 11, 0, 0, 0, time.UTC))},
		// A partial outage of dc2, open since 11:00 today.
		{Components: []string{"dc:dc2"}, Severity: api.SEV2, CreatedAt: stamp(time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC))},
	}
	days := uptime("dc:dc2", incs, now, 90)
	if len(days) != 90 || days[89].Date != "2026-11-22" || days[0].Date != "2026-08-25" {
		t.Fatalf("%d days from %s to %s", len(days), days[0].Date, days[len(days)-1].Date)
	}
	if d := days[88]; d.Worst != api.StatusMajor || d.OutageMinutes != 15 {
		t.Errorf("yesterday: %+v, want major, 15 minutes", d)
	}
	if d := days[89]; d.Worst != api.StatusMajor || d.OutageMinutes != 15+60 {
		t.Errorf("today: %+v, want major (the night's SEV1), 75 minutes", d)
	}
	if d := days[80]; d.Worst != api.StatusOperational || d.OutageMinutes != 0 {
		t.Errorf("a quiet day: %+v", d)
	}
	m := uptime(Messaging, incs, now, 90)
	if d := m[86]; d.Worst != api.StatusDegraded || d.OutageMinutes != 0 {
		t.Errorf("messaging three days ago: %+v, want degraded with no outage minutes", d)
	}
}

func TestSummary(t *testing.T) {
	for _, tt := range []struct {
		worst api.ComponentStatus
		cut   bool
		want  string
	}{
		{api.StatusOperational, false, "none"},
		{api.StatusDegraded, false, "minor"},
		{api.StatusPartial, false, "major"},
		{api.StatusMajor, false, "critical"},
		{api.StatusOperational, true, "critical"},
	} {
		if got := summary(tt.worst, tt.cut); got.Indicator != tt.want || got.Description == "" {
			t.Errorf("summary(%s, cut %v) = %+v, want indicator %s", tt.worst, tt.cut, got, tt.want)
		}
	}
}

func TestNewIncident(t *testing.T) {
	now := time.Now()
	inc := newIncident("i1", "dc:dc2", "Data centre dc2", api.StatusMajor, now.Add(-3*time.Second), now, "dc1")
	if inc.Severity != api.SEV1 || inc.Name != "Data centre dc2 unreachable" || inc.Status != api.IncidentInvestigating ||
		len(inc.Timeline) != 2 || inc.Timeline[0].Kind != "detected" || lastState(&inc) != api.StatusMajor {
		t.Errorf("incident %+v", inc)
	}
	if inc := newIncident("i2", Messaging, "Messaging", api.StatusDegraded, now, now, "dc1"); inc.Severity != api.SEV3 {
		t.Errorf("degraded messaging: %s, want SEV3", inc.Severity)
	}
}
