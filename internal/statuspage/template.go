package statuspage

// pageTemplate is the whole HTML page. It loads nothing: the styles are
// inline (the Content-Security-Policy allows only those), there is no
// script, and the page refreshes itself with a meta refresh. Every state is
// written out in words next to its colour.
const pageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30">
<meta name="color-scheme" content="light">
<title>{{.Title}}</title>
<style>
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:#f5f6f8;color:#1d2330;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif;overflow-wrap:anywhere}
.wrap{max-width:52rem;margin:0 auto;padding:0 1rem}
header{padding:2rem 0 1.25rem}
h1{margin:0;font-size:1.6rem;line-height:1.2;font-weight:650;letter-spacing:-.01em}
h2{margin:0 0 .75rem;font-size:1.15rem;font-weight:650}
h3{margin:0;font-size:1.05rem;font-weight:650}
section{margin:0 0 2rem}
ul,ol{margin:0;padding:0;list-style:none}
.muted{color:#5b6475}
.small{font-size:.875rem}
.notice{display:flex;gap:.75rem;align-items:flex-start;margin:0 0 1rem;padding:1rem 1.25rem;border-radius:.5rem;font-weight:600}
.notice .icon{flex:none;font-size:1.25rem;line-height:1.2}
.cutoff{background:#fff4e5;color:#6b3100;border:2px solid #e8730c}
.banner{color:#fff;font-size:1.15rem;margin-bottom:2rem}
.banner.none{background:#1f8a4c}
.banner.minor{background:#f2c037;color:#3d2f00}
.banner.major{background:#e8730c}
.banner.critical{background:#c62b1e}
.banner.maintenance{background:#2f6fde}
.banner.unknown{background:#6b7280}
.card{background:#fff;border:1px solid #dfe3ea;border-radius:.5rem}
.components>li{padding:1rem 1.25rem;border-top:1px solid #e7eaf0}
.components>li:first-child{border-top:0}
.row{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:baseline;gap:.25rem 1rem}
.name{font-weight:600}
.state{display:inline-flex;align-items:center;gap:.4rem;font-size:.9rem;font-weight:600}
.dot{display:inline-block;width:.7rem;height:.7rem;border-radius:50%;flex:none}
.operational{--c:#1f9d55}
.degraded_performance{--c:#e0a800}
.partial_outage{--c:#e8730c}
.major_outage{--c:#d4351c}
.under_maintenance{--c:#2f6fde}
.unknown{--c:#9aa3b2}
.state.operational{color:#17773f}
.state.degraded_performance{color:#8a6200}
.state.partial_outage{color:#a94f00}
.state.major_outage{color:#b32a15}
.state.under_maintenance{color:#2458b8}
.state.unknown{color:#5b6475}
.dot,.bar{background:var(--c)}
.bars{display:flex;gap:3px;height:2.1rem;margin:.75rem 0 .35rem}
.bar{flex:1 1 0;min-width:0;border-radius:2px}
.bar:hover{opacity:.7}
.scale{display:flex;justify-content:space-between;gap:.5rem;font-size:.8rem;color:#5b6475}
.scale .pct{font-weight:600;color:#1d2330}
.empty{padding:1rem 1.25rem;color:#5b6475}
.incident,.maintenance{padding:1rem 1.25rem;margin-bottom:1rem;border-left:4px solid var(--c)}
.incident.none{--c:#9aa3b2}
.incident.minor{--c:#e0a800}
.incident.major{--c:#e8730c}
.incident.critical{--c:#d4351c}
.incident.unknown{--c:#d4351c}
.meta{display:flex;flex-wrap:wrap;gap:.25rem .75rem;margin:.35rem 0 .75rem;font-size:.875rem;color:#5b6475}
.tag{display:inline-block;padding:0 .45rem;border-radius:.25rem;background:#eef0f4;color:#1d2330;font-weight:600;font-size:.8rem}
.tag.sev{background:#1d2330;color:#fff}
.updates>li{padding:.6rem 0;border-top:1px solid #eef0f4}
.updates>li:first-child{border-top:0;padding-top:0}
.updates p{margin:.1rem 0 0;font-size:.95rem;white-space:pre-line}
.updates time,.timeline time{display:block;font-size:.8rem;color:#5b6475}
details{margin-top:.75rem;font-size:.9rem}
summary{cursor:pointer;font-weight:600;color:#2458b8}
.timeline{margin-top:.5rem;padding-left:.9rem;border-left:2px solid #dfe3ea}
.timeline>li{padding:.3rem 0}
.kind{text-transform:capitalize;font-weight:600}
.maintenance p{margin:0;font-size:.95rem}
time{font-variant-numeric:tabular-nums}
footer{padding:1.5rem 0 3rem;border-top:1px solid #dfe3ea;font-size:.875rem;color:#5b6475}
footer p{margin:0 0 .25rem}
a{color:#2458b8}
@media (max-width:720px){.bars{gap:2px}}
@media (max-width:480px){
 header{padding:1.25rem 0 1rem}
 h1{font-size:1.35rem}
 .components>li,.incident,.maintenance,.notice{padding:.85rem .9rem}
 .bars{height:1.8rem;gap:1px}
}
</style>
</head>
<body>
<div class="wrap">
<header>
<h1>{{.Title}}</h1>
</header>
<main>
{{- if .CutOff}}
<p class="notice cutoff" role="alert"><span class="icon" aria-hidden="true">⚠</span><span>This site cannot reach the rest of the cluster: what it shows may be out of date. Try another site.</span></p>
{{- end}}
<p class="notice banner {{.Indicator}}">{{.Description}}</p>

<section id="components" aria-labelledby="components-h">
<h2 id="components-h">Components</h2>
<ul class="components card">
{{- range .Components}}
<li class="component">
<div class="row">
<span class="name">{{.Name}}</span>
<span class="state {{.State}}"><span class="dot {{.State}}" aria-hidden="true"></span><span class="label">{{.Label}}</span></span>
</div>
{{- if .Description}}
<div class="muted small">{{.Description}}</div>
{{- end}}
{{- if .Days}}
<div class="bars" role="img" aria-label="{{.UptimeLabel}}">
{{- range .Days}}<span class="bar {{.State}}" title="{{.Tip}}"></span>{{end -}}
</div>
<div class="scale" aria-hidden="true"><span>{{.DaysLabel}}</span><span class="pct">{{.Uptime}} uptime</span><span>Today</span></div>
{{- end}}
</li>
{{- else}}
<li class="empty">No components are reported.</li>
{{- end}}
</ul>
</section>

<section id="incidents" aria-labelledby="incidents-h">
<h2 id="incidents-h">Current incidents</h2>
{{- range .Incidents}}
<article class="incident card {{.Impact}}">
<h3>{{.Name}}</h3>
<div class="meta">
{{- if .Severity}}<span class="tag sev">{{.Severity}}</span>{{end}}
<span class="tag">{{.Status}}</span>
{{- if .Components}}<span>Affects: {{.Components}}</span>{{end}}
{{- if .Started}}<span>Since {{.Started}}</span>{{end}}
</div>
{{- if .Updates}}
<ul class="updates">
{{- range .Updates}}
<li><strong>{{.Status}}</strong> <time>{{.At}}</time><p>{{.Body}}</p></li>
{{- end}}
</ul>
{{- end}}
{{- if .Timeline}}
<details>
<summary>Timeline</summary>
<ol class="timeline">
{{- range .Timeline}}
<li><time>{{.At}}</time><span class="kind">{{.Kind}}</span>: {{.Text}}</li>
{{- end}}
</ol>
</details>
{{- end}}
</article>
{{- else}}
<p class="card empty">No current incidents.</p>
{{- end}}
</section>

<section id="maintenance" aria-labelledby="maintenance-h">
<h2 id="maintenance-h">Scheduled maintenance</h2>
{{- range .Maintenances}}
<article class="maintenance card {{.State}}">
<h3>{{.Name}}</h3>
<div class="meta">
<span class="tag">{{.Status}}</span>
<span>{{.Window}}</span>
{{- if .Components}}<span>Affects: {{.Components}}</span>{{end}}
</div>
{{- if .Body}}
<p>{{.Body}}</p>
{{- end}}
</article>
{{- else}}
<p class="card empty">No maintenance is scheduled.</p>
{{- end}}
</section>
</main>
<footer>
<p>Answered by node <strong>{{.NodeName}}</strong>{{if .NodeDC}} in data centre <strong>{{.NodeDC}}</strong>{{end}}. Updated {{.UpdatedAt}}.</p>
<p>This page refreshes every 30 seconds. Also as <a href="{{.JSONPath}}">JSON</a> and as an <a href="{{.FeedPath}}">Atom feed</a>.</p>
</footer>
</div>
</body>
</html>
`
