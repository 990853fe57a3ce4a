package drill

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// WriteHTML writes r as one self-contained HTML page: verdict, headline
// figures, a timeline chart (inline SVG) and the problems found. It needs no
// script and no other file; every string from r is escaped.
func (r *Result) WriteHTML(w io.Writer) error {
	v := report{Scenario: r.Scenario, OK: r.OK(), Verdict: "FAIL", Chart: newChart(r), Problems: r.Problems}
	if v.OK {
		v.Verdict = "PASS"
	}
	ms := func(f float64) string { return strconv.FormatFloat(finite(f), 'f', 0, 64) + " ms" }
	rooms := func(n int, gap float64) string { return fmt.Sprintf("%d rooms, longest gap %s", n, ms(gap)) }
	add := func(name, value string, bad bool) { v.Figures = append(v.Figures, figure{name, value, bad}) }
	add("acked", fmt.Sprintf("%d of %d sent", r.Acked, r.Sent), false)
	add("lost", strconv.Itoa(r.Lost), r.Lost != 0)
	add("undelivered", strconv.Itoa(r.Undelivered), r.Undelivered != 0)
	add("duplicated", strconv.Itoa(r.Duplicated), r.Duplicated != 0)
	add("reordered", strconv.Itoa(r.Reordered), r.Reordered != 0)
	add("unacked", strconv.Itoa(r.Unacked), false)
	add("rto_p99_ms", ms(r.RTOP99MS), false)
	add("rto_max_ms", ms(r.RTOMaxMS), false)
	add("unaffected rooms", rooms(r.UnaffectedRooms, r.UnaffectedGapMaxMS), false)
	add("affected rooms", rooms(r.AffectedRooms, r.AffectedGapMaxMS), false)
	add("longest room gap before the failure", ms(r.BaselineGapMaxMS), false)
	add("catch_up_ms", ms(r.CatchUpMS), false)
	add("send_ack p50 / p99", fmt.Sprintf("%.1f / %.1f ms", finite(r.SendAckP50MS), finite(r.SendAckP99MS)), false)
	add("rate", fmt.Sprintf("%.0f msg/s", finite(r.Rate)), false)
	add("users", strconv.Itoa(r.Users), false)
	add("rooms", strconv.Itoa(r.Rooms), false)
	add("dcs", strconv.Itoa(r.DCs), false)
	add("victim", r.Victim, false)
	d := func(ms int64) string { return (time.Duration(ms) * time.Millisecond).String() }
	add("load / failure at / back at", d(r.LoadMS)+" / "+d(r.FailAtMS)+" / "+d(r.HealAtMS), false)
	return reportTmpl.Execute(w, v)
}

type report struct {
	Scenario, Verdict string
	OK                bool
	Figures           []figure
	Chart             chart
	Problems          []string
}

type figure struct {
	Name, Value string
	Bad         bool
}

// px is an SVG coordinate or length; it never prints as NaN or Inf.
type px float64

func (p px) String() string { return strconv.FormatFloat(finite(float64(p)), 'f', 1, 64) }

type (
	svgRect struct {
		X, Y, W, H px
		Tip        string
	}
	svgLine struct{ X1, Y1, X2, Y2 px }
	svgText struct {
		X, Y                px
		Class, Anchor, Text string
		Vertical            bool // rotated a quarter turn about (X, Y)
	}
	svgDot struct {
		X, Y px
		Tip  string
	}
)

// chart is the timeline's view model: every coordinate is computed here.
type chart struct {
	Empty  bool
	Bars   []svgRect
	P99    []string // polyline points, one run of seconds that had acknowledgements
	Errors []svgDot
	Grid   []svgLine // left-axis ticks as faint horizontal lines
	Ticks  []svgLine // x-axis tick marks
	Marks  []svgLine
	Texts  []svgText // tick labels, axis titles, mark labels
}

// Chart geometry: the plot area lies within [plotL, plotR] × [plotT, plotB].
const (
	chartW       = 800 // the view box is 800 × 340
	plotL, plotR = 64, 736
	plotT, plotB = 20, 270
)

func newChart(r *Result) chart {
	var c chart
	secs := make([]Second, 0, len(r.Timeline))
	dur, ackMax, latMax := 1.0, 0.0, 0.0
	for _, s := range r.Timeline {
		if s.T < 0 {
			continue
		}
		secs = append(secs, s)
		dur = math.Max(dur, float64(s.T)+1)
		ackMax = math.Max(ackMax, math.Max(float64(s.Acked), float64(s.Errors)))
		latMax = math.Max(latMax, finite(s.P99MS))
	}
	sort.SliceStable(secs, func(i, j int) bool { return secs[i].T < secs[j].T })
	c.Empty = len(secs) == 0
	dur = math.Max(dur, math.Ceil(float64(r.LoadMS)/1000))
	for _, m := range r.Marks {
		dur = math.Max(dur, math.Ceil(float64(m.AtMS)/1000))
	}
	ackStep, ackTop := axis(ackMax, 1)
	latStep, latTop := axis(latMax, 0)
	slot := (plotR - plotL) / dur
	x := func(sec float64) px { return px(plotL + math.Min(math.Max(sec, 0), dur)*slot) }
	y := func(v, top float64) px { return px(plotB - math.Min(math.Max(v, 0)/top, 1)*(plotB-plotT)) }
	text := func(x, y px, class, anchor, s string) {
		c.Texts = append(c.Texts, svgText{x, y, class, anchor, s, strings.Contains(class, "vert")})
	}
	for i := 0; i <= 4; i++ {
		ya := y(ackStep*float64(i), ackTop)
		c.Grid = append(c.Grid, svgLine{plotL, ya, plotR, ya})
		text(plotL-6, ya+4, "tick", "end", num(ackStep*float64(i)))
		text(plotR+6, y(latStep*float64(i), latTop)+4, "tick lat", "start", num(latStep*float64(i)))
	}
	xStep := math.Max(1, math.Ceil(niceCeil(dur/8)))
	for t := 0.0; t <= dur; t += xStep {
		c.Ticks = append(c.Ticks, svgLine{x(t), plotB, x(t), plotB + 5})
		text(x(t), plotB+18, "tick", "middle", num(t)+"s")
	}
	text((plotL+plotR)/2, plotB+36, "axis", "middle", "seconds of load")
	text(14, (plotT+plotB)/2, "axis vert", "middle", "acknowledged / s")
	text(chartW-10, (plotT+plotB)/2, "axis vert lat", "middle", "p99 send→ack ms")
	var run []string
	flush := func() {
		if len(run) == 1 { // a lone second: a round cap makes it a dot
			run = append(run, run[0])
		}
		if len(run) > 0 {
			c.P99 = append(c.P99, strings.Join(run, " "))
		}
		run = nil
	}
	for i, s := range secs {
		t := float64(s.T)
		tip := fmt.Sprintf("%ds: %d acked, %d errors, p50 %s ms, p99 %s ms", s.T, s.Acked, s.Errors, num(finite(s.P50MS)), num(finite(s.P99MS)))
		top := y(float64(s.Acked), ackTop)
		c.Bars = append(c.Bars, svgRect{x(t) + px(slot*0.1), top, px(slot * 0.8), plotB - top, tip})
		if s.Errors > 0 {
			c.Errors = append(c.Errors, svgDot{x(t + 0.5), y(float64(s.Errors), ackTop), tip})
		}
		if s.Acked == 0 || (i > 0 && secs[i-1].T < s.T-1) {
			flush()
		}
		if s.Acked > 0 {
			run = append(run, x(t+0.5).String()+","+y(finite(s.P99MS), latTop).String())
		}
	}
	flush()
	marks := append([]Mark(nil), r.Marks...)
	sort.SliceStable(marks, func(i, j int) bool { return marks[i].AtMS < marks[j].AtMS })
	for i, m := range marks {
		mx := x(float64(m.AtMS) / 1000)
		c.Marks = append(c.Marks, svgLine{mx, plotT, mx, plotB})
		ly := px(plotT + 12 + float64(i%3)*13) // stagger labels of nearby marks
		if mx > plotR-120 {
			text(mx-4, ly, "mark", "end", m.Label)
		} else {
			text(mx+4, ly, "mark", "start", m.Label)
		}
	}
	return c
}

// axis picks a tick step for four ticks covering max (step ≥ minStep) and
// returns it with the axis top; both are finite and positive.
func axis(max, minStep float64) (step, top float64) {
	step = math.Max(niceCeil(max/4), minStep)
	if top = 4 * step; math.IsInf(top, 0) {
		return max / 4, max
	}
	return step, top
}

// niceCeil returns the smallest 1, 2 or 5 × 10ⁿ at least v, or 1 if v is not
// positive; it never returns zero, NaN or Inf.
func niceCeil(v float64) float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if n := m * p; n >= v && !math.IsInf(n, 0) {
			return n
		}
	}
	return v
}

// finite maps NaN, ±Inf and negative values to zero.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

// num formats a tick value briefly.
func num(v float64) string {
	if v >= 1e6 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

var reportTmpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>dandan drill {{.Scenario}}</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:1em auto;max-width:860px;padding:0 .6em;color:#222}
h1{font-size:1.3em}.verdict{padding:.1em .5em;border-radius:4px;color:#fff}
.pass{background:#2a7d2a}.fail{background:#b3261e}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.2em .5em;border-bottom:1px solid #ddd}
td.bad{color:#b3261e;font-weight:bold}svg{width:100%;height:auto}
svg text{font-size:11px;fill:#444}svg .axis{font-size:12px}svg .lat{fill:#c05a00}svg .mark{fill:#222;paint-order:stroke;stroke:#fff;stroke-width:3px}
</style></head>
<body>
<h1>dandan drill {{.Scenario}} <span class="verdict {{if .OK}}pass{{else}}fail{{end}}">{{.Verdict}}</span></h1>
<table>{{range .Figures}}
<tr><th>{{.Name}}</th><td{{if .Bad}} class="bad"{{end}}>{{.Value}}</td></tr>{{end}}
</table>
<h2>Timeline</h2>
{{with .Chart}}<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 800 340" role="img" aria-label="timeline">
<g stroke="#eee">{{range .Grid}}<line x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}"/>{{end}}</g>
<g class="acked" fill="#7aa6d6">{{range .Bars}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Tip}}</title></rect>{{end}}</g>
<g class="p99" fill="none" stroke="#e07000" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">{{range .P99}}<polyline points="{{.}}"/>{{end}}</g>
<g class="errors" fill="#d00">{{range .Errors}}<circle cx="{{.X}}" cy="{{.Y}}" r="3"><title>{{.Tip}}</title></circle>{{end}}</g>
<g class="marks" stroke="#333" stroke-dasharray="5 4">{{range .Marks}}<line x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}"/>{{end}}</g>
<g stroke="#444"><line x1="64" y1="270" x2="736" y2="270"/><line x1="64" y1="20" x2="64" y2="270"/><line x1="736" y1="20" x2="736" y2="270"/>{{range .Ticks}}<line x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}"/>{{end}}</g>
{{range .Texts}}<text x="{{.X}}" y="{{.Y}}" class="{{.Class}}" text-anchor="{{.Anchor}}"{{if .Vertical}} transform="rotate(-90 {{.X}} {{.Y}})"{{end}}>{{.Text}}</text>{{end}}
{{if .Empty}}<text x="400" y="145" text-anchor="middle" class="axis">no timeline recorded</text>{{end}}
<g class="legend"><rect x="64" y="318" width="12" height="10" fill="#7aa6d6"/><text x="80" y="327">acknowledged / s</text>
<line x1="200" y1="323" x2="222" y2="323" stroke="#e07000" stroke-width="2"/><text x="226" y="327">p99 latency (ms, right)</text>
<circle cx="384" cy="323" r="3" fill="#d00"/><text x="392" y="327">errors / s</text>
<line x1="470" y1="323" x2="492" y2="323" stroke="#333" stroke-dasharray="5 4"/><text x="496" y="327">drill action</text></g>
</svg>{{end}}
{{if .Problems}}<h2>Problems</h2>
<ul>{{range .Problems}}<li>{{.}}</li>{{end}}</ul>{{end}}
</body></html>
`))
