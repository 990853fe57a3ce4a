package drill

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

// node is an element of the report, parsed as XML: the report is written so
// that a strict XML parser accepts it, which checks it is well formed.
type node struct {
	name  string
	attr  map[string]string
	kids  []*node
	text  string // all character data below, decoded
	class string // class of the nearest enclosing element that has one
}

func parseReport(t *testing.T, out []byte) *node {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(out))
	d.Strict = true
	root := &node{name: "#document"}
	stack := []*node{root}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("report is not well formed: %v\n%s", err, out)
		}
		top := stack[len(stack)-1]
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name.Local, attr: map[string]string{}, class: top.class}
			for _, a := range tok.Attr {
				n.attr[a.Name.Local] = a.Value
			}
			if c, ok := n.attr["class"]; ok {
				n.class = c
			}
			top.kids = append(top.kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			for _, n := range stack {
				n.text += string(tok)
			}
		}
	}
	if len(stack) != 1 {
		t.Fatalf("%d elements left open", len(stack)-1)
	}
	return root
}

// all returns the elements below n (n included) with the given name.
func (n *node) all(name string) []*node {
	var found []*node
	if n.name == name {
		found = append(found, n)
	}
	for _, k := range n.kids {
		found = append(found, k.all(name)...)
	}
	return found
}

func (n *node) in(class string) []*node {
	var found []*node
	for _, k := range n.kids {
		if k.class == class {
			found = append(found, k)
		}
	}
	return found
}

func (n *node) num(t *testing.T, attr string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(n.attr[attr], 64)
	if err != nil {
		t.Fatalf("<%s %s=%q>: %v", n.name, attr, n.attr[attr], err)
	}
	return f
}

func render(t *testing.T, r *Result) ([]byte, *node) {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	for _, bad := range []string{"NaN", "Inf", "ZgotmplZ", "<script"} {
		if bytes.Contains(out, []byte(bad)) {
			t.Errorf("report contains %q", bad)
		}
	}
	return out, parseReport(t, out)
}

// checkGeometry checks every coordinate is a finite number inside the
// 800×340 view box.
func checkGeometry(t *testing.T, svg *node) {
	t.Helper()
	in := func(n *node, v, max float64, what string) {
		if !(v >= 0 && v <= max) {
			t.Errorf("<%s> %s = %v, outside the chart", n.name, what, v)
		}
	}
	var walk func(n *node)
	walk = func(n *node) {
		for a, max := range map[string]float64{"x": 800, "x1": 800, "x2": 800, "cx": 800, "y": 340, "y1": 340, "y2": 340, "cy": 340} {
			if _, ok := n.attr[a]; ok {
				in(n, n.num(t, a), max, a)
			}
		}
		if n.name == "rect" {
			in(n, n.num(t, "x")+n.num(t, "width"), 800, "x+width")
			in(n, n.num(t, "y")+n.num(t, "height"), 340, "y+height")
		}
		if pts, ok := n.attr["points"]; ok {
			for _, p := range strings.Fields(pts) {
				var x, y float64
				if _, err := fmt.Sscanf(p, "%g,%g", &x, &y); err != nil {
					t.Fatalf("bad point %q: %v", p, err)
				}
				in(n, x, 800, "point x")
				in(n, y, 340, "point y")
			}
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(svg)
}

const hostile = `<script>alert(1)</script>`

func drillResult() *Result {
	r := &Result{
		Scenario: "dc-loss", Victim: "dc1 " + hostile, DCs: 3, Users: 300, Rooms: 40, Rate: 200,
		LoadMS: 60000, FailAtMS: 20000, HealAtMS: 35000,
		Sent: 12010, Acked: 11987, Unacked: 23, Lost: 2, Undelivered: 5,
		RTOP99MS: 1234, RTOMaxMS: 4321, UnaffectedRooms: 27, UnaffectedGapMaxMS: 812,
		AffectedRooms: 13, AffectedGapMaxMS: 3907, CatchUpMS: 2650, SendAckP50MS: 4.26, SendAckP99MS: 38.5,
		Marks: []Mark{
			{AtMS: 35000, Label: "dc1 restarted"}, // out of order on purpose
			{AtMS: 20000, Label: "dc1 killed"},
			{AtMS: 37650, Label: "dc1 ready " + hostile},
		},
		Problems: []string{"room r7: event 1234 missing " + hostile},
	}
	for s := 0; s < 60; s++ {
		sec := Second{T: s, Acked: 200, P50MS: 4, P99MS: 30}
		switch {
		case s == 20:
			sec = Second{T: s, Acked: 40, Errors: 17, P50MS: 400, P99MS: 2900}
		case s > 20 && s < 23:
			sec = Second{T: s, Acked: 150, Errors: 3, P50MS: 9, P99MS: 600}
		}
		r.Timeline = append(r.Timeline, sec)
	}
	return r
}

func TestWriteHTML(t *testing.T) {
	out, doc := render(t, drillResult())

	if h := doc.all("h1"); len(h) != 1 || !strings.Contains(h[0].text, "dandan drill dc-loss") || !strings.Contains(h[0].text, "FAIL") {
		t.Errorf("heading: %+v", h)
	}
	if title := doc.all("title"); len(title) == 0 || title[0].text != "dandan drill dc-loss" {
		t.Errorf("no page title")
	}
	figures := map[string]string{}
	for _, tr := range doc.all("tr") {
		th, td := tr.all("th"), tr.all("td")
		if len(th) == 1 && len(td) == 1 {
			figures[th[0].text] = td[0].text
		}
	}
	for name, want := range map[string]string{
		"acked": "11987 of 12010 sent", "lost": "2", "undelivered": "5", "duplicated": "0", "reordered": "0",
		"unacked": "23", "rto_p99_ms": "1234 ms", "rto_max_ms": "4321 ms",
		"unaffected rooms": "27 rooms, longest gap 812 ms", "affected rooms": "13 rooms, longest gap 3907 ms",
		"catch_up_ms": "2650 ms", "send_ack p50 / p99": "4.3 / 38.5 ms", "rate": "200 msg/s",
		"users": "300", "rooms": "40", "dcs": "3", "victim": "dc1 " + hostile,
	} {
		if got, ok := figures[name]; !ok || got != want {
			t.Errorf("figure %q = %q, want %q", name, got, want)
		}
	}

	svgs := doc.all("svg")
	if len(svgs) != 1 {
		t.Fatalf("%d svg elements, want 1", len(svgs))
	}
	svg := svgs[0]
	checkGeometry(t, svg)
	var groups = map[string]*node{}
	for _, g := range svg.all("g") {
		groups[g.attr["class"]] = g
	}
	bars := groups["acked"].in("acked")
	if len(bars) != 60 {
		t.Fatalf("%d bars, want 60", len(bars))
	}
	if dip, before := bars[20].num(t, "height"), bars[19].num(t, "height"); !(dip > 0 && dip < before/4) {
		t.Errorf("bar heights: second 19 %v, second 20 %v; want a dip", before, dip)
	}
	if x19, x20 := bars[19].num(t, "x"), bars[20].num(t, "x"); !(x19 < x20) {
		t.Errorf("bars not in time order: %v, %v", x19, x20)
	}
	lines := groups["p99"].all("polyline")
	if len(lines) != 1 || len(strings.Fields(lines[0].attr["points"])) != 60 {
		t.Errorf("p99 polylines: %+v", lines)
	} else {
		pts := strings.Fields(lines[0].attr["points"])
		y := func(i int) float64 { f, _ := strconv.ParseFloat(strings.Split(pts[i], ",")[1], 64); return f }
		if y(20) >= y(19) { // the latency peak is the highest point: the smallest y
			t.Errorf("p99 line does not peak at second 20: y19 %v, y20 %v", y(19), y(20))
		}
	}
	if dots := groups["errors"].all("circle"); len(dots) != 3 {
		t.Errorf("%d error markers, want 3", len(dots))
	}
	marks := groups["marks"].all("line")
	if len(marks) != 3 {
		t.Fatalf("%d mark lines, want 3", len(marks))
	}
	if !(marks[0].num(t, "x1") < marks[1].num(t, "x1") && marks[1].num(t, "x1") < marks[2].num(t, "x1")) {
		t.Errorf("mark lines not placed in time order")
	}
	if x := marks[0].num(t, "x1"); math.Abs(x-(bars[20].num(t, "x")-bars[20].num(t, "width")/8)) > 0.5 {
		t.Errorf("mark at 20 s drawn at x=%v, not at the start of second 20", x)
	}
	var labels []string
	for _, txt := range svg.all("text") {
		if txt.class == "mark" {
			labels = append(labels, txt.text)
		}
		if txt.text == "60s" && txt.num(t, "x") != plotR { // the load's end is the plot's right edge
			t.Errorf("tick 60s at x=%v, want %v", txt.num(t, "x"), plotR)
		}
	}
	if want := []string{"dc1 killed", "dc1 restarted", "dc1 ready " + hostile}; strings.Join(labels, "|") != strings.Join(want, "|") {
		t.Errorf("mark labels %q, want %q", labels, want)
	}
	for _, s := range []string{"p99 latency", "errors / s", "seconds of load", "60s"} {
		if !strings.Contains(svg.text, s) {
			t.Errorf("chart lacks %q", s)
		}
	}

	if li := doc.all("li"); len(li) != 1 || li[0].text != "room r7: event 1234 missing "+hostile {
		t.Errorf("problems: %+v", li)
	}
	if n := bytes.Count(out, []byte("&lt;script&gt;alert(1)&lt;/script&gt;")); n != 3 {
		t.Errorf("escaped hostile string appears %d times, want 3 (victim, mark, problem)", n)
	}
}

func TestWriteHTMLVerdict(t *testing.T) {
	r := drillResult()
	r.Lost, r.Problems = 0, nil
	out, doc := render(t, r)
	if h := doc.all("h1"); len(h) != 1 || !strings.Contains(h[0].text, "PASS") || strings.Contains(h[0].text, "FAIL") {
		t.Errorf("heading: %+v", h)
	}
	if bytes.Contains(out, []byte("<h2>Problems")) {
		t.Error("problems section without problems")
	}
}

func TestWriteHTMLEmpty(t *testing.T) {
	out, doc := render(t, &Result{})
	svgs := doc.all("svg")
	if len(svgs) != 1 {
		t.Fatalf("%d svg elements, want 1", len(svgs))
	}
	checkGeometry(t, svgs[0])
	if !bytes.Contains(out, []byte("no timeline recorded")) || !bytes.Contains(out, []byte("PASS")) {
		t.Errorf("empty report:\n%s", out)
	}
}

func TestWriteHTMLExtremes(t *testing.T) {
	r := &Result{
		Scenario: "partition", Victim: "dc2", LoadMS: 5000, RTOP99MS: math.NaN(), CatchUpMS: math.Inf(1),
		Marks: []Mark{{AtMS: -5000, Label: "before"}, {AtMS: 9000, Label: "after the load"}},
		Timeline: []Second{
			{T: 0, Acked: 0, P99MS: 0},
			{T: 1, Acked: 1, P99MS: math.MaxFloat64},
			{T: 2, Acked: 1, P99MS: math.Inf(1)},
			{T: 3, Acked: 1, Errors: 1, P99MS: math.NaN(), P50MS: -3},
			{T: -1, Acked: 5},
			{T: 5, Acked: -3, Errors: -1},
			{T: 7, Acked: 1, P99MS: 1e300},
		},
	}
	_, doc := render(t, r)
	svg := doc.all("svg")[0]
	checkGeometry(t, svg)
	if n := len(svg.all("rect")) - 1; n != 6 { // minus the legend's swatch
		t.Errorf("%d bars, want 6", n)
	}
	var latTop float64 // the right axis scales to the largest finite latency
	for _, txt := range svg.all("text") {
		if txt.class == "tick lat" {
			latTop, _ = strconv.ParseFloat(txt.text, 64)
		}
	}
	if latTop < math.MaxFloat64/2 {
		t.Errorf("right axis tops at %v, want about %v", latTop, math.MaxFloat64)
	}
	// Second 0 has no acknowledgement and 4-6 are missing: two runs.
	if n := len(svg.all("polyline")); n != 2 {
		t.Errorf("%d p99 runs, want 2", n)
	}
	for _, s := range []Second{{T: 0}, {T: math.MaxInt32, Acked: math.MaxInt32, Errors: 1}} {
		r.Timeline = append(r.Timeline, s)
	}
	_, doc = render(t, r)
	checkGeometry(t, doc.all("svg")[0])
}

func TestPx(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if s := px(v).String(); s != "0.0" {
			t.Errorf("px(%v) = %q", v, s)
		}
	}
	if s := px(12.345).String(); s != "12.3" {
		t.Errorf("px(12.345) = %q", s)
	}
}

func TestNiceCeil(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{
		{0, 1}, {-3, 1}, {math.NaN(), 1}, {math.Inf(1), 1}, {1, 1}, {3, 5}, {7, 10}, {12, 20}, {0.3, 0.5},
		{1000, 1000}, {math.MaxFloat64, math.MaxFloat64},
	} {
		if got := niceCeil(c.in); got != c.want {
			t.Errorf("niceCeil(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
