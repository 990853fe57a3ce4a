// DOM helpers. Everything the client shows is built with createElement and
// textContent: data from the network is never parsed as HTML.

// h builds an element. attrs: class, text, dataset-style "data-*", "aria-*",
// plain attributes, and on* event listeners (functions). Children are nodes,
// strings (as text nodes), arrays, or null/false (skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'hidden' || k === 'disabled') el[k] = !!v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (typeof c === 'string') el.appendChild(document.createTextNode(c));
    else el.appendChild(c);
  }
}

// reconcile makes parent's children exactly els, in order, moving only the
// nodes that are out of place (so focus and unchanged nodes are kept).
export function reconcile(parent, els) {
  let cur = parent.firstChild;
  for (const el of els) {
    if (el === cur) {
      cur = cur.nextSibling;
      continue;
    }
    parent.insertBefore(el, cur);
  }
  while (cur) {
    const next = cur.nextSibling;
    parent.removeChild(cur);
    cur = next;
  }
}

const urlRe = /\bhttps?:\/\/[^\s<>"'`]+/gi;

// linkify returns text as nodes: text nodes, and <a> for http(s) URLs.
// Trailing punctuation is left out of a link, as people write it after one.
export function linkify(text) {
  const out = [];
  let last = 0;
  urlRe.lastIndex = 0;
  for (let m; (m = urlRe.exec(text)) !== null; ) {
    let raw = m[0];
    // Drop trailing punctuation, and a closing bracket without its opener.
    for (;;) {
      const c = raw[raw.length - 1];
      if ('.,;:!?\'"'.includes(c)) raw = raw.slice(0, -1);
      else if (c === ')' && count(raw, '(') < count(raw, ')')) raw = raw.slice(0, -1);
      else if (c === ']' && count(raw, '[') < count(raw, ']')) raw = raw.slice(0, -1);
      else break;
    }
    let url = null;
    try {
      url = new URL(raw);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) continue;
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    out.push(h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer nofollow', text: raw }));
    last = m.index + raw.length;
    urlRe.lastIndex = last;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

function count(s, ch) {
  let n = 0;
  for (const c of s) if (c === ch) n++;
  return n;
}

// Formatting of times and days, in the browser's locale.
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long' });
const dayYearFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'long', year: 'numeric' });
const shortDayFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });

export function fmtTime(ts) {
  return timeFmt.format(new Date(ts));
}

export function dayKey(ts) {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

function startOfDay(ts) {
  const d = new Date(ts);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

// fmtDay labels a day separator: Today, Yesterday, a weekday and date.
export function fmtDay(ts) {
  const days = Math.round((startOfDay(Date.now()) - startOfDay(ts)) / 86400000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (new Date(ts).getFullYear() === new Date().getFullYear()) return dayFmt.format(new Date(ts));
  return dayYearFmt.format(new Date(ts));
}

// fmtListTime is the short time of a room list entry.
export function fmtListTime(ts) {
  const days = Math.round((startOfDay(Date.now()) - startOfDay(ts)) / 86400000);
  if (days === 0) return fmtTime(ts);
  if (days === 1) return 'Yesterday';
  if (days < 7) return weekdayFmt.format(new Date(ts));
  return shortDayFmt.format(new Date(ts));
}

// initials of a name for an avatar.
export function initials(name) {
  const parts = String(name || '?').trim().split(/[\s_]+/).filter(Boolean);
  const first = [...(parts[0] || '?')][0] || '?';
  const second = parts.length > 1 ? [...parts[parts.length - 1]][0] : '';
  return (first + (second || '')).toUpperCase();
}

// hue derives a stable colour from an id.
export function hue(id) {
  let x = 0;
  for (const c of String(id)) x = (x * 31 + c.charCodeAt(0)) >>> 0;
  return x % 360;
}

// avatar is a round badge with a person's or room's initials.
export function avatar(id, name, size) {
  const el = h('span', { class: 'avatar' + (size ? ' avatar-' + size : ''), 'aria-hidden': 'true', text: initials(name) });
  el.style.setProperty('--h', String(hue(id)));
  return el;
}

// truncate shortens a preview to n characters (by code point).
export function truncate(s, n) {
  const a = [...String(s)];
  return a.length <= n ? String(s) : a.slice(0, n).join('') + '…';
}

export function $(sel, root) {
  return (root || document).querySelector(sel);
}
