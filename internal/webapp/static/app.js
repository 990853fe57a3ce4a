// dandan browser client: the application. It keeps the state (rooms, their
// events, receipts, the outbox) and renders it. See net.js for the network.

import { h, reconcile, linkify, fmtTime, fmtDay, dayKey, fmtListTime, avatar, truncate, hue, $ } from './dom.js';
import { icon } from './icons.js';
import { Api, ApiError, Live, Sites, clearOutboxes, newClientID } from './net.js';

const store = window.localStorage;
const PAGE = 30; // the newest events fetched of a room opened (or with no last event in its summary)
const OLDER = 50; // events per page when scrolling back
const KEEP = 300; // events held per room that is not open (see trim)
const TRIM_AT = KEEP + 100; // ... once it holds this many
const TYPING_SEND_EVERY = 3000;
const TYPING_SHOW_FOR = 5000;
const GROUP_GAP = 5 * 60 * 1000;

const S = {
  session: null, // {token, user, device}
  rooms: new Map(),
  users: new Map(),
  open: null, // id of the open room
  acked: new Map(), // client id → {room, seq, ts, text, reply_to, created}: stored, event not yet here
  replyTo: null, // {room, seq}
  editing: null, // {room, seq}
  confirmDelete: 0, // seq of the message asking "delete?" (not its key, which changes when its event lands after its ack)
  synced: false,
  notify: store.getItem('dandan.notify') === '1',
  missed: new Map(), // room id → {ev, n}: messages from others caught up after a reconnect, to notify once synced
  lastTyping: 0,
};

const sites = new Sites(location.origin, store);
const api = new Api(sites, () => (S.session ? S.session.token : ''), () => signedOut('Your session ended. Please sign in again.'));
let live = null;
// epoch counts sessions in this tab: an answer to a request made for an
// earlier one (signed out since) is dropped, never shown to who came next.
let epoch = 0;

const me = () => (S.session ? S.session.user.id : '');
const enc = encodeURIComponent;

// ---------- rooms and events ----------

function roomOf(summary) {
  let r = S.rooms.get(summary.id);
  if (!r) {
    r = {
      id: summary.id, kind: summary.kind, name: '', nameSeq: -1, peer: null, members: 0, role: '', created: 0,
      last_seq: 0, read: 0, delivered: 0, unreadBase: 0, unreadAt: 0,
      events: new Map(), low: 0, hasMore: true, cursor: null, loaded: false, loading: false,
      loadingOlder: false, filling: false, edits: new Map(), deletes: new Set(),
      receipts: new Map(), memberList: null, typing: new Map(), error: '',
    };
    S.rooms.set(summary.id, r);
  }
  r.kind = summary.kind || r.kind;
  // A summary names the room as of its last_seq; a rename event at or after
  // that seq is newer (a summary can lag behind a rename it lists).
  if (summary.name !== undefined && (summary.last_seq || 0) > r.nameSeq) {
    r.name = summary.name || '';
    r.nameSeq = summary.last_seq || 0;
  }
  if (summary.peer) {
    r.peer = summary.peer;
    S.users.set(summary.peer.id, summary.peer);
  }
  r.members = summary.members || r.members;
  r.role = summary.role || r.role;
  r.created = summary.created || r.created;
  r.last_seq = Math.max(r.last_seq, summary.last_seq || 0);
  r.read = Math.max(r.read, summary.read || 0);
  r.delivered = Math.max(r.delivered, summary.delivered || 0);
  r.unreadBase = summary.unread || 0;
  r.unreadAt = summary.last_seq || 0;
  return r;
}

function roomName(r) {
  if (r.kind === 'direct') return r.peer ? displayName(r.peer) : 'Direct chat';
  return r.name || 'Group';
}

function displayName(u) {
  return (u && (u.display_name || u.handle)) || 'Someone';
}

// userName names a user by id, fetching unknown ones.
const userFetches = new Set();
function userName(id) {
  const u = S.users.get(id);
  if (u) return displayName(u);
  if (id && !userFetches.has(id) && S.session) {
    userFetches.add(id);
    const ep = epoch;
    api.get('/v1/users/' + enc(id)).then((u2) => {
      if (ep !== epoch) return;
      if (u2) S.users.set(id, u2);
      render();
    }).catch(() => {});
  }
  return '…';
}

// addEvents records events of a room (from a page or live), applies edits
// and deletions to their targets and moves the cursor over what is
// contiguous.
function addEvents(r, events) {
  for (const ev of events) {
    if (!ev || !ev.seq || r.events.has(ev.seq)) continue;
    r.events.set(ev.seq, ev);
    r.last_seq = Math.max(r.last_seq, ev.seq);
    if (ev.type === 'edit' && ev.target) {
      const prev = r.edits.get(ev.target);
      if (!prev || prev.seq < ev.seq) r.edits.set(ev.target, ev);
    } else if (ev.type === 'delete' && ev.target) {
      r.deletes.add(ev.target);
    } else if (ev.type === 'room.renamed' && ev.name) {
      // Older pages of history hold older names: only a newer one counts.
      if (ev.seq >= r.nameSeq) {
        r.name = ev.name;
        r.nameSeq = ev.seq;
      }
    } else if (ev.type === 'message') {
      r.typing.delete(ev.sender);
    }
    if (ev.type.startsWith('member.')) r.memberList = null;
    if (ev.sender === me() && ev.client_id) {
      S.acked.delete(ev.client_id);
      // Stored: never send it again (an ack lost with a connection).
      if (live && live.entries.some((e) => e.id === ev.client_id)) live.discard(ev.client_id);
    }
    if (!r.low || ev.seq < r.low) r.low = ev.seq;
  }
  if (r.low === 1) r.hasMore = false;
  advance(r);
}

function advance(r) {
  if (r.cursor === null) return;
  while (r.events.has(r.cursor + 1)) r.cursor++;
}

// trim bounds the memory a long-open tab gives a busy room: a room keeps
// its newest KEEP events once it holds TRIM_AT, unless it is on screen with
// the reader scrolled up or holding a message to edit, reply to or delete
// (at the bottom, the messages let go are far above the view); scrolling
// back loads them again. Its unread count stays the same: the unread
// messages let go are counted in its base, as those never loaded are.
function trim(r) {
  if (r.events.size < TRIM_AT) return;
  if (S.open === r.id && (!wasAtBottom || S.editing || S.replyTo || S.confirmDelete)) return;
  const before = unread(r);
  const seqs = [...r.events.keys()].sort((a, b) => a - b);
  const low = seqs[seqs.length - KEEP];
  for (const seq of seqs) {
    if (seq >= low) break;
    r.events.delete(seq);
  }
  // An edit let go comes back with its page; a deletion is kept, as its
  // target may come back before the delete event does.
  for (const [target, ed] of r.edits) if (ed.seq < low) r.edits.delete(target);
  r.low = low;
  r.hasMore = true;
  if (r.unreadAt < low - 1) {
    // With a zero base, unread counts only the messages still held; the
    // base takes the rest.
    r.unreadAt = low - 1;
    r.unreadBase = 0;
    r.unreadBase = Math.max(0, before - unread(r));
  }
}

// current reports whether r is still a room of this session (not left,
// not of a user signed out since the request began).
function current(r) {
  return S.rooms.get(r.id) === r;
}

// loadLatest fetches a room's newest page: its preview and the start of
// its view. A few rooms are loaded at a time; the open one first.
const loadQueue = [];
let loadsRunning = 0;
function queueLoad(r, first) {
  if (r.loaded || r.loading || loadQueue.includes(r)) return;
  if (first) loadQueue.unshift(r);
  else loadQueue.push(r);
  pumpLoads();
}

function pumpLoads() {
  while (loadsRunning < 4 && loadQueue.length) {
    const r = loadQueue.shift();
    if (r.loaded || r.loading || !S.rooms.has(r.id)) continue;
    loadsRunning++;
    loadLatest(r).finally(() => {
      loadsRunning--;
      pumpLoads();
    });
  }
}

async function loadLatest(r) {
  r.loading = true;
  try {
    const page = await api.get(`/v1/rooms/${enc(r.id)}/events?before=0&limit=${PAGE}`);
    if (!current(r)) return;
    const evs = (page && page.events) || [];
    addEvents(r, evs);
    if (evs.length) {
      r.cursor = Math.max(r.cursor || 0, evs[evs.length - 1].seq);
      r.hasMore = !!page.has_more && evs[0].seq > 1;
    } else {
      r.cursor = Math.max(r.cursor || 0, 0);
      r.hasMore = false;
    }
    advance(r);
    r.loaded = true;
    r.error = '';
    if (r.kind === 'group') loadMembers(r);
    deliveredUpTo(r, r.cursor);
    fill(r);
  } catch (e) {
    r.error = e.message || 'Could not load messages';
  } finally {
    r.loading = false;
    render();
  }
}

// fill fetches what lies between the cursor and the room's last seq (a gap
// after a live event skipped ahead, or events stored while away).
async function fill(r) {
  if (r.cursor === null || r.filling || !r.loaded) return;
  if (r.last_seq <= r.cursor) return;
  r.filling = true;
  try {
    for (let guard = 0; guard < 100 && r.last_seq > r.cursor; guard++) {
      const page = await api.get(`/v1/rooms/${enc(r.id)}/events?after=${r.cursor}&limit=500`);
      if (!current(r)) return;
      const evs = (page && page.events) || [];
      if (!evs.length) break;
      addEvents(r, evs);
      r.cursor = Math.max(r.cursor, evs[evs.length - 1].seq);
      advance(r);
      trim(r);
      if (!page.has_more) break;
    }
  } catch {
    // Tried again on the next event, room frame or connection.
  } finally {
    r.filling = false;
    render();
  }
}

async function loadOlder(r) {
  if (r.loadingOlder || !r.hasMore || !r.loaded) return;
  r.loadingOlder = true;
  render();
  try {
    const page = await api.get(`/v1/rooms/${enc(r.id)}/events?before=${r.low}&limit=${OLDER}`);
    if (!current(r)) return;
    const evs = (page && page.events) || [];
    addEvents(r, evs);
    r.hasMore = !!page.has_more && evs.length > 0 && evs[0].seq > 1;
  } catch (e) {
    r.error = e.message;
  } finally {
    r.loadingOlder = false;
    render();
  }
}

async function loadMembers(r) {
  try {
    const ms = await api.get(`/v1/rooms/${enc(r.id)}/members`);
    if (!current(r)) return;
    r.memberList = ms || [];
    for (const m of r.memberList) S.users.set(m.id, { id: m.id, handle: m.handle, display_name: m.display_name });
    r.members = r.memberList.length;
    render();
  } catch {
    // Names fall back to a lookup per user.
  }
}

async function loadReceipts(r) {
  try {
    const rs = await api.get(`/v1/rooms/${enc(r.id)}/receipts`);
    if (!current(r)) return;
    for (const x of rs || []) applyReceipt(x);
    render();
  } catch {
    // Live receipt frames keep coming.
  }
}

function applyReceipt(x) {
  const r = S.rooms.get(x.room);
  if (!r) return;
  if (x.user === me()) {
    r.read = Math.max(r.read, x.read || 0);
    r.delivered = Math.max(r.delivered, x.delivered || 0);
    return;
  }
  const cur = r.receipts.get(x.user) || { delivered: 0, read: 0 };
  r.receipts.set(x.user, { delivered: Math.max(cur.delivered, x.delivered || 0, x.read || 0), read: Math.max(cur.read, x.read || 0) });
}

// unread counts messages from others after the read pointer: from the
// events held when they reach back that far, else from the server's count.
function unread(r) {
  let n = 0;
  const mine = me();
  if (r.loaded && r.low && r.low <= r.read + 1) {
    for (const ev of r.events.values()) {
      if (ev.seq > r.read && ev.type === 'message' && ev.sender !== mine && !ev.deleted && !r.deletes.has(ev.seq)) n++;
    }
    return n;
  }
  for (const ev of r.events.values()) {
    if (ev.seq > Math.max(r.unreadAt, r.read) && ev.type === 'message' && ev.sender !== mine) n++;
  }
  return r.read >= r.last_seq ? 0 : r.unreadBase + n;
}

function lastActivity(r) {
  let t = r.created || 0;
  const evs = [...r.events.values()];
  if (evs.length) t = Math.max(t, evs.reduce((a, e) => Math.max(a, e.ts || 0), 0));
  if (live) for (const e of live.entries) if (e.room === r.id) t = Math.max(t, e.created || 0);
  return t;
}

function sortedEvents(r) {
  return [...r.events.values()].sort((a, b) => a.seq - b.seq);
}

// textOf is what a message says now: its latest edit, or a pending one.
function textOf(r, ev) {
  let text = ev.text || '';
  const ed = r.edits.get(ev.seq);
  if (ed) text = ed.text || '';
  const pend = live && live.entries.filter((e) => e.room === r.id && e.type === 'edit' && e.target === ev.seq && e.state !== 'failed');
  if (pend && pend.length) text = pend[pend.length - 1].text;
  return text;
}

function isDeleted(r, ev) {
  return !!ev.deleted || r.deletes.has(ev.seq) ||
    !!(live && live.entries.some((e) => e.room === r.id && e.type === 'delete' && e.target === ev.seq && e.state !== 'failed'));
}

function isEdited(r, ev) {
  return r.edits.has(ev.seq) || !!(live && live.entries.some((e) => e.room === r.id && e.type === 'edit' && e.target === ev.seq && e.state !== 'failed'));
}

// failedOp is the newest edit or deletion of the message at seq that the
// server refused for good: it waits in the outbox for Retry or Discard.
function failedOp(r, seq) {
  let op = null;
  if (live) for (const e of live.entries) if (e.room === r.id && (e.type === 'edit' || e.type === 'delete') && e.target === seq && e.state === 'failed') op = e;
  return op;
}

function systemText(r, ev) {
  const who = ev.sender === me() ? 'You' : userName(ev.sender);
  const whom = ev.user === me() ? 'you' : userName(ev.user);
  switch (ev.type) {
    case 'room.created':
      return r.kind === 'direct' ? 'Chat started' : `${who} created the group “${ev.name || r.name}”`;
    case 'room.renamed':
      return `${who} renamed the group to “${ev.name}”`;
    case 'member.joined':
      if (r.kind === 'direct') return '';
      return ev.user === ev.sender ? `${who} joined` : `${who} added ${whom}`;
    case 'member.left':
      return `${ev.user === me() ? 'You' : userName(ev.user)} left`;
    case 'member.removed':
      return `${who} removed ${whom}`;
    default:
      return '';
  }
}

// preview is a room list entry's last line.
function preview(r) {
  const typers = typingNames(r);
  if (typers) return { text: typers, typing: true, ts: 0 };
  let pend = null;
  if (live) for (const e of live.entries) if (e.room === r.id && (e.type || 'send') === 'send') pend = e;
  const evs = sortedEvents(r);
  for (let i = evs.length - 1; i >= 0; i--) {
    const ev = evs[i];
    if (ev.type === 'message') {
      if (pend && pend.created > (ev.ts || 0)) break;
      const who = ev.sender === me() ? 'You: ' : r.kind === 'group' ? userName(ev.sender) + ': ' : '';
      const text = isDeleted(r, ev) ? 'Message deleted' : textOf(r, ev);
      return { text: who + truncate(text.replace(/\s+/g, ' '), 80), ts: ev.ts };
    }
    const sys = systemText(r, ev);
    if (sys && !pend) return { text: sys, ts: ev.ts };
  }
  if (pend) return { text: 'You: ' + truncate(pend.text.replace(/\s+/g, ' '), 80), ts: pend.created };
  if (r.loading || !r.loaded) return { text: r.error ? 'Could not load' : 'Loading…', ts: 0 };
  return { text: 'No messages yet', ts: 0 };
}

function typingNames(r) {
  const now = Date.now();
  const names = [];
  for (const [u, until] of r.typing) {
    if (until > now) names.push(userName(u));
    else r.typing.delete(u);
  }
  if (!names.length) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'Several people are typing…';
}

// ---------- live connection handlers ----------

function cursors() {
  const c = {};
  for (const r of S.rooms.values()) if (r.cursor !== null && r.loaded) c[r.id] = r.cursor;
  return c;
}

function onEvent(ev) {
  let r = S.rooms.get(ev.room);
  if (!r) r = roomOf({ id: ev.room, kind: ev.room.startsWith('p') ? 'direct' : 'group' });
  const fresh = !r.events.has(ev.seq);
  const beyond = r.cursor !== null && ev.seq > r.cursor + 1;
  addEvents(r, [ev]);
  if (!r.loaded) queueLoad(r, false);
  else if (beyond) fill(r);
  trim(r);
  if (fresh && ev.type === 'message' && ev.sender !== me()) {
    if (!(S.open === r.id && visible())) deliveredUpTo(r, ev.seq);
    if (S.synced) {
      notifyMessage(r, ev, 1);
      if (S.open === r.id && visible()) announce(r, ev);
    } else {
      // Caught up after a reconnect: new to this page too, but one
      // notification per room, once the catch-up is over.
      const m = S.missed.get(r.id);
      S.missed.set(r.id, { ev, n: m ? m.n + 1 : 1 });
    }
  }
  render();
}

function onRoom(summary) {
  const had = S.rooms.get(summary.id);
  const seen = had ? had.last_seq : -1; // -1: new to this page
  const seenUnread = had ? unread(had) : 0;
  const r = roomOf(summary);
  // The summary's last event, when the node had it at hand, is the room's
  // newest: enough for its line in the list, so a room not on screen is
  // loaded only when opened or when a live event arrives (a client with
  // many rooms does not read a page of each whenever it reconnects). A
  // loaded room gets its events in the catch-up instead.
  const last = summary.last;
  if (!r.loaded && last && last.room === r.id && last.seq === summary.last_seq && !r.events.has(last.seq)) {
    addEvents(r, [last]);
    // New since this page last heard of the room: with no cursor there, no
    // catch-up brings it, so it is notified as a catch-up's would be.
    if (seen >= 0 && last.seq > seen && last.type === 'message' && last.sender !== me() && !S.synced) {
      const m = S.missed.get(r.id);
      S.missed.set(r.id, { ev: last, n: (m ? m.n : 0) + Math.max(1, unread(r) - seenUnread) });
    }
  }
  if (!r.loaded && (S.open === r.id || !previewable(r))) queueLoad(r, S.open === r.id);
  else if (!r.loaded) deliveredUpTo(r, r.last_seq);
  else if (r.last_seq > r.cursor) fill(r);
  render();
}

// previewable: the newest event held can be the room's line in the list.
function previewable(r) {
  let ev = null;
  for (const e of r.events.values()) if (!ev || e.seq > ev.seq) ev = e;
  return !!ev && ev.seq === r.last_seq && (ev.type === 'message' || !!systemText(r, ev));
}

// deliveredUpTo tells the server the room's events up to seq reached this
// device, if it has not been told.
function deliveredUpTo(r, seq) {
  if (seq > r.delivered && live) {
    r.delivered = seq;
    live.receipt(r.id, seq, 0);
  }
}

function onLeft(id) {
  if (!id) return;
  S.rooms.delete(id);
  // What was still to be sent there never will be.
  if (live) for (const e of [...live.entries]) if (e.room === id) live.discard(e.id);
  if (S.open === id) closeRoom();
  const d = $('#room-dialog');
  if (d.open && d.dataset.room === id) d.close();
  render();
}

function onSynced() {
  S.synced = true;
  const missed = [...S.missed.entries()];
  S.missed.clear();
  for (const [id, m] of missed) {
    const r = S.rooms.get(id);
    if (r) notifyMessage(r, m.ev, m.n);
  }
  for (const r of S.rooms.values()) if (r.loaded) fill(r);
  const r = S.rooms.get(S.open);
  if (r) loadReceipts(r);
  render();
}

function onTyping(room, user) {
  const r = S.rooms.get(room);
  if (!r || user === me()) return;
  r.typing.set(user, Date.now() + TYPING_SHOW_FOR);
  render();
  setTimeout(render, TYPING_SHOW_FOR + 50);
}

function onAck(entry, ack) {
  if (!ack) return;
  const r = S.rooms.get(entry.room);
  if ((entry.type || 'send') === 'send' && r && !r.events.has(ack.seq)) {
    S.acked.set(entry.id, { room: entry.room, seq: ack.seq, ts: ack.ts, text: entry.text, reply_to: entry.reply_to, created: entry.created });
  }
  // r.read is not moved here: it is what was reported read, and moving it
  // past messages of others not yet shown (the ack may come first) would
  // keep them from ever being reported read or delivered.
  if (r) r.last_seq = Math.max(r.last_seq, ack.seq);
  render();
}

// announce tells screen readers of a new message from someone else in the
// open room. The conversation itself is not a live region: it is rebuilt
// as ticks change and older pages come in, which must not be read out.
function announce(r, ev) {
  const el = $('#announce');
  const text = `${userName(ev.sender)}: ${truncate(textOf(r, ev), 200)}`;
  // The same words twice in a row are announced twice.
  el.textContent = el.textContent === text ? text + '\u00a0' : text;
}

function visible() {
  return document.visibilityState === 'visible';
}

// ---------- notifications ----------

// notifyMessage shows a notification for a new message from someone else,
// the newest of n, if they are turned on and the tab is hidden (a visible
// tab shows the message itself) and it is not read yet (on another device).
async function notifyMessage(r, ev, n) {
  if (!S.notify || ev.sender === me() || !('Notification' in window) || Notification.permission !== 'granted') return;
  if (!document.hidden || ev.seq <= r.read) return;
  const who = await nameOf(ev.sender);
  // Still wanted after the look-up: signed in, in the room, tab hidden.
  if (!S.session || !S.notify || !S.rooms.has(r.id) || !document.hidden || isDeleted(r, ev) || ev.seq <= r.read) return;
  const title = r.kind === 'group' ? `${who} in ${roomName(r)}` : who;
  const text = truncate(textOf(r, ev), 140);
  try {
    const note = new Notification(title, { body: n > 1 ? `${n} new messages. The latest: ${text}` : text, tag: r.id, icon: '/app/icon.svg' });
    note.onclick = () => {
      window.focus();
      openRoom(r.id);
      note.close();
    };
  } catch {
    // Some browsers allow notifications only from a service worker.
  }
}

// nameOf resolves to a user's name, fetching an unknown user first (a
// notification is not titled "…").
async function nameOf(id) {
  if (!S.users.has(id) && id && S.session) {
    const ep = epoch;
    try {
      const u = await api.get('/v1/users/' + enc(id));
      if (u && ep === epoch) S.users.set(id, u);
    } catch {
      // Named "Someone" below.
    }
  }
  return displayName(S.users.get(id));
}

// ---------- rendering ----------

let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    if (!S.session) return;
    renderConn();
    renderRooms();
    renderConversation();
    const d = $('#room-dialog');
    const dr = d.open && S.rooms.get(d.dataset.room);
    if (dr) renderRoomDialogHead(dr);
    markRead();
  });
}

// markRead sends a read receipt for the open room while the tab is seen.
function markRead() {
  const r = S.rooms.get(S.open);
  if (!r || !visible() || r.cursor === null || !live) return;
  if (r.cursor > r.read) {
    r.read = r.cursor;
    r.delivered = Math.max(r.delivered, r.cursor);
    live.receipt(r.id, r.cursor, r.cursor);
    render();
  }
}

let connTicker = null;
function renderConn() {
  const el = $('#conn');
  if (!live) return;
  const s = live.status;
  const now = Date.now();
  const secs = (t) => Math.max(1, Math.ceil((t - now) / 1000));
  const waiting = live.entries.filter((e) => e.state !== 'failed').length;
  const site = s.site ? sites.name(s.site) : '';
  let state = s.state;
  let text = '';
  let countdown = false;
  switch (s.state) {
    case 'connected':
      text = `Connected · ${site}`;
      break;
    case 'moved':
      text = `Connected · moved to ${site}`;
      break;
    case 'reconnecting':
      countdown = s.until > now + 900;
      text = countdown ? `Connection lost · reconnecting in ${secs(s.until)} s` : 'Connection lost · reconnecting…';
      break;
    case 'refused':
      countdown = true;
      text = `Server busy · retrying in ${secs(s.until)} s`;
      break;
    case 'offline':
      text = 'Offline · messages will be sent when you are back online';
      break;
    default:
      text = 'Connecting…';
  }
  if ((s.state === 'connected' || s.state === 'moved') && s.busyUntil > now) {
    state = 'refused';
    countdown = true;
    text = `Server busy · retrying in ${secs(s.busyUntil)} s`;
  }
  if (waiting && state !== 'connected' && state !== 'moved') text += ` · ${waiting} waiting to send`;
  el.dataset.state = state;
  el.dataset.site = site;
  const t = el.querySelector('.conn-text');
  if (t.textContent !== text) t.textContent = text;
  // What screen readers hear (the region is aria-live): the state without
  // its countdown, which would be read out every second.
  const sr = el.querySelector('.conn-sr');
  const said = text.replace(/ in \d+ s/, ' shortly');
  if (sr.textContent !== said) sr.textContent = said;
  el.title = s.state === 'moved' && s.from ? `${sites.name(s.from)} is unreachable; using ${site}` : '';
  const banner = $('#conv-banner');
  const bad = state !== 'connected' && state !== 'moved';
  banner.hidden = !bad;
  if (bad && banner.textContent !== text) banner.textContent = text;
  clearTimeout(connTicker);
  if (countdown) connTicker = setTimeout(renderConn, 1000 - (now % 1000) + 20);
}

const roomEls = new Map(); // room id → {sig, el}
function renderRooms() {
  const list = $('#room-list');
  const rooms = [...S.rooms.values()].map((r) => ({ r, t: lastActivity(r) })).sort((a, b) => b.t - a.t || (a.r.id < b.r.id ? -1 : 1));
  const els = [];
  const seen = new Set();
  for (const { r } of rooms) {
    const p = preview(r);
    const n = S.open === r.id && visible() ? 0 : unread(r);
    const name = roomName(r);
    const sig = JSON.stringify([name, p.text, p.typing, p.ts, n, S.open === r.id, r.kind]);
    seen.add(r.id);
    let c = roomEls.get(r.id);
    if (!c || c.sig !== sig) {
      const el = h('li', { class: 'room-li' },
        h('button', {
          type: 'button', class: 'room' + (S.open === r.id ? ' active' : '') + (n ? ' has-unread' : ''),
          'data-testid': 'room-item', 'data-room-id': r.id, 'data-room-name': name, 'data-unread': String(n),
          'aria-current': S.open === r.id ? 'true' : null,
          onclick: () => openRoom(r.id),
        },
        avatar(r.kind === 'direct' && r.peer ? r.peer.id : r.id, name),
        h('span', { class: 'room-main' },
          h('span', { class: 'room-top' },
            h('span', { class: 'room-name', 'data-testid': 'room-name', dir: 'auto' }, name),
            p.ts ? h('time', { class: 'room-time', datetime: new Date(p.ts).toISOString() }, fmtListTime(p.ts)) : null),
          h('span', { class: 'room-bottom' },
            h('span', { class: 'room-preview' + (p.typing ? ' is-typing' : ''), 'data-testid': 'room-preview', dir: 'auto' }, p.text),
            n ? h('span', { class: 'badge', 'data-testid': 'unread', 'aria-label': `${n} unread` }, n > 99 ? '99+' : String(n)) : null))));
      c = { sig, el };
      roomEls.set(r.id, c);
    }
    els.push(c.el);
  }
  for (const id of roomEls.keys()) if (!seen.has(id)) roomEls.delete(id);
  reconcile(list, els);
  $('#rooms-empty').hidden = S.rooms.size > 0 || !S.synced;
}

// receiptStatus says how far an own message at seq got.
function receiptStatus(r, seq) {
  const others = [];
  for (const [u, x] of r.receipts) if (u !== me()) others.push(x);
  const total = Math.max(r.kind === 'direct' ? 1 : (r.members || 1) - 1, others.length);
  const read = others.filter((x) => x.read >= seq).length;
  const deliv = others.filter((x) => x.delivered >= seq).length;
  if (read > 0) {
    if (r.kind === 'direct') return { status: 'read', label: 'Read' };
    if (read >= total) return { status: 'read', label: 'Seen by everyone' };
    return { status: 'read', label: `Seen by ${read}` };
  }
  if (deliv > 0) return { status: 'delivered', label: 'Delivered' };
  return { status: 'sent', label: 'Sent' };
}

const statusIcons = { pending: 'clock', sent: 'check', delivered: 'checks', read: 'checks', failed: 'alert' };

const msgEls = new Map(); // key → {sig, el}
let msgRoom = null;

function renderConversation() {
  const chat = $('#chat');
  const r = S.rooms.get(S.open);
  chat.dataset.view = r ? 'room' : 'list';
  $('#conv').hidden = !r;
  $('#conv-empty').hidden = !!r;
  if (!r) {
    msgRoom = null;
    return;
  }
  const name = roomName(r);
  const title = $('#conv-title');
  if (title.textContent !== name) title.textContent = name;
  const av = $('#conv-avatar');
  const avKey = (r.peer ? r.peer.id : r.id) + '|' + name;
  if (av.dataset.key !== avKey) {
    av.dataset.key = avKey;
    av.replaceChildren(avatar(r.peer ? r.peer.id : r.id, name));
  }
  const typers = typingNames(r);
  let sub = typers;
  if (!sub) sub = r.kind === 'direct' ? (r.peer ? '@' + r.peer.handle : '') : `${r.members || '…'} members`;
  const subEl = $('#conv-sub');
  if (subEl.textContent !== sub) subEl.textContent = sub;
  subEl.classList.toggle('is-typing', !!typers);
  const typingEl = $('#typing');
  if (typingEl.textContent !== typers) typingEl.textContent = typers;
  renderComposerContext(r);

  const box = $('#messages');
  if (msgRoom !== r.id) {
    msgEls.clear();
    box.replaceChildren();
    msgRoom = r.id;
    box.dataset.room = r.id;
    stickToBottom = true;
  }
  // Keep the reader's place: at the bottom stays at the bottom; otherwise
  // the first visible message stays where it is (older pages are prepended).
  const atBottom = stickToBottom || box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  let anchor = null;
  let anchorOff = 0;
  if (!atBottom) {
    for (const el of box.children) {
      if (el.offsetTop + el.offsetHeight > box.scrollTop) {
        anchor = el;
        anchorOff = el.offsetTop - box.scrollTop;
        break;
      }
    }
  }
  const items = buildItems(r);
  const els = [];
  const keys = new Set();
  for (const it of items) {
    keys.add(it.key);
    let c = msgEls.get(it.key);
    if (!c || c.sig !== it.sig) {
      c = { sig: it.sig, el: it.build() };
      msgEls.set(it.key, c);
    }
    els.push(c.el);
  }
  for (const k of msgEls.keys()) if (!keys.has(k)) msgEls.delete(k);
  reconcile(box, els);
  if (atBottom) {
    box.scrollTop = box.scrollHeight;
    wasAtBottom = true;
  } else if (anchor && anchor.isConnected) box.scrollTop = anchor.offsetTop - anchorOff;
  stickToBottom = false;
  // Fill the screen: a short view pages further back by itself.
  if (r.loaded && r.hasMore && !r.loadingOlder && box.scrollHeight <= box.clientHeight + 40) loadOlder(r);
}
let stickToBottom = false;
let wasAtBottom = true;

// buildItems lists what the conversation shows, each with a key, a
// signature of its content and a builder.
function buildItems(r) {
  const items = [];
  const mine = me();
  if (!r.loaded) {
    // It may hold its last event already (from its summary) or live ones.
    items.push({ key: 'loading', sig: r.error, build: () => h('p', { class: 'conv-start' }, r.error ? 'Could not load messages: ' + r.error : 'Loading messages…') });
  } else if (r.hasMore || r.loadingOlder) {
    items.push({
      key: 'older', sig: String(r.loadingOlder),
      build: () => h('div', { class: 'older' },
        h('button', { type: 'button', class: 'btn btn-quiet', 'data-testid': 'load-older', disabled: r.loadingOlder, onclick: () => loadOlder(r) },
          r.loadingOlder ? 'Loading earlier messages…' : 'Load earlier messages')),
    });
  } else {
    items.push({ key: 'start', sig: '', build: () => h('p', { class: 'conv-start' }, 'This is the beginning of the conversation.') });
  }
  // The last own message gets its status spelled out.
  let lastOwn = null;
  const evs = sortedEvents(r);
  const held = new Set();
  for (const ev of evs) if (ev.sender === mine && ev.client_id) held.add(ev.client_id);
  const pending = [];
  for (const [id, a] of S.acked) if (a.room === r.id && !held.has(id)) pending.push({ id, kind: 'acked', ...a });
  if (live) {
    for (const e of live.entries) {
      if (e.room === r.id && (e.type || 'send') === 'send' && !held.has(e.id) && !S.acked.has(e.id)) pending.push({ kind: 'outbox', ...e });
    }
  }
  pending.sort((a, b) => (a.created || 0) - (b.created || 0));
  for (const ev of evs) if (ev.type === 'message' && ev.sender === mine) lastOwn = 's' + ev.seq;
  if (pending.length) lastOwn = 'c' + pending[pending.length - 1].id;

  let prevDay = '';
  let prev = null; // the previous message, for grouping
  const addDay = (ts) => {
    const d = dayKey(ts);
    if (d !== prevDay) {
      prevDay = d;
      const label = fmtDay(ts);
      items.push({ key: 'day-' + d, sig: label, build: () => h('div', { class: 'day', role: 'separator', 'data-testid': 'day' }, h('span', null, label)) });
      prev = null;
    }
  };
  for (const ev of evs) {
    if (ev.type === 'edit' || ev.type === 'delete') continue;
    addDay(ev.ts || Date.now());
    if (ev.type !== 'message') {
      const text = systemText(r, ev);
      if (!text) continue;
      items.push({ key: 's' + ev.seq, sig: text, build: () => h('p', { class: 'system', 'data-testid': 'system-event', 'data-seq': String(ev.seq), dir: 'auto' }, text) });
      prev = null;
      continue;
    }
    const own = ev.sender === mine;
    const m = {
      key: 's' + ev.seq, seq: ev.seq, clientId: ev.client_id || '', sender: ev.sender, own, ts: ev.ts,
      text: textOf(r, ev), deleted: isDeleted(r, ev), edited: isEdited(r, ev), replyTo: ev.reply_to || 0,
    };
    if (own) Object.assign(m, receiptStatus(r, ev.seq));
    const op = failedOp(r, ev.seq);
    if (op) m.op = { id: op.id, type: op.type, error: op.error || '' };
    m.grouped = !!(prev && prev.sender === ev.sender && ev.ts - prev.ts < GROUP_GAP);
    m.showStatus = own && 's' + ev.seq === lastOwn;
    items.push(messageItem(r, m));
    prev = m;
  }
  for (const p of pending) {
    addDay(p.created || Date.now());
    const failed = p.kind === 'outbox' && p.state === 'failed';
    const m = {
      key: 'c' + p.id, seq: p.kind === 'acked' ? p.seq : 0, clientId: p.id, sender: mine, own: true, ts: p.ts || p.created,
      text: p.text, deleted: false, edited: false, replyTo: p.reply_to || 0,
      status: failed ? 'failed' : p.kind === 'acked' ? 'sent' : 'pending',
      label: failed ? 'Not sent' : p.kind === 'acked' ? 'Sent' : live && live.ready ? 'Sending…' : 'Waiting for connection…',
      error: failed ? p.error : '',
    };
    m.grouped = !!(prev && prev.sender === mine && (m.ts - prev.ts) < GROUP_GAP);
    m.showStatus = failed || m.key === lastOwn;
    items.push(messageItem(r, m));
    prev = m;
  }
  return items;
}

function messageItem(r, m) {
  let quote = null;
  if (m.replyTo) {
    const t = r.events.get(m.replyTo);
    quote = t ? { who: t.sender === me() ? 'You' : userName(t.sender), text: isDeleted(r, t) ? 'Message deleted' : textOf(r, t) } : { who: '', text: 'Earlier message' };
  }
  const senderName = r.kind === 'group' && !m.own && !m.grouped ? userName(m.sender) : '';
  const confirming = !!m.seq && S.confirmDelete === m.seq;
  const sig = JSON.stringify([m.text, m.deleted, m.edited, m.status, m.label, m.showStatus, m.grouped, senderName, quote, confirming, m.seq, m.error, m.op || null, fmtTime(m.ts || 0)]);
  return { key: m.key, sig, build: () => buildMessage(r, m, quote, senderName, confirming) };
}

function buildMessage(r, m, quote, senderName, confirming) {
  const actions = [];
  if (m.seq && !m.deleted) {
    actions.push(h('button', { type: 'button', class: 'act', 'aria-label': 'Reply', title: 'Reply', 'data-testid': 'reply', onclick: () => startReply(r, m.seq) }, icon('reply')));
    if (m.own) actions.push(h('button', { type: 'button', class: 'act', 'aria-label': 'Edit', title: 'Edit', 'data-testid': 'edit', onclick: () => startEdit(r, m.seq) }, icon('edit')));
    if (m.own || r.role === 'admin') {
      actions.push(h('button', { type: 'button', class: 'act', 'aria-label': 'Delete', title: 'Delete', 'data-testid': 'delete', onclick: () => askDelete(m.seq) }, icon('trash')));
    }
  }
  const body = [];
  if (senderName) {
    const n = h('div', { class: 'msg-sender', dir: 'auto' }, senderName);
    n.style.setProperty('--h', String(hue(m.sender)));
    body.push(n);
  }
  if (quote) {
    body.push(h('button', {
      type: 'button', class: 'quote', 'data-testid': 'reply-quote', onclick: (ev) => { ev.stopPropagation(); jumpTo(r, m.replyTo); },
      'aria-label': `Reply to ${quote.who || 'an earlier message'}: ${truncate(quote.text, 60)}`,
    },
    quote.who ? h('span', { class: 'quote-who', dir: 'auto' }, quote.who) : null,
    h('bdi', { class: 'quote-text', dir: 'auto' }, truncate(quote.text, 140))));
  }
  const edited = m.edited && !m.deleted;
  if (m.deleted) body.push(h('span', { class: 'msg-text msg-deleted', 'data-testid': 'message-deleted' }, 'Message deleted'));
  else body.push(h('bdi', { class: 'msg-text', dir: 'auto', 'data-testid': 'message-text' }, linkify(m.text)));
  const meta = () => h('span', { class: 'msg-meta' },
    edited ? h('span', { class: 'edited', 'data-testid': 'edited' }, 'edited') : null,
    h('time', { datetime: new Date(m.ts || Date.now()).toISOString() }, fmtTime(m.ts || Date.now())),
    m.own ? h('span', { class: 'tick tick-' + m.status, title: m.label, role: 'img', 'aria-label': m.label }, icon(statusIcons[m.status] || 'check')) : null);
  // An invisible copy keeps the last line of text clear of the real one,
  // which sits at the bubble's bottom right.
  const space = meta();
  space.className = 'msg-meta meta-space';
  space.setAttribute('aria-hidden', 'true');
  for (const x of space.querySelectorAll('[data-testid]')) x.removeAttribute('data-testid');
  body.push(space, meta());

  const el = h('div', {
    class: 'msg ' + (m.own ? 'mine' : 'theirs') + (m.grouped ? ' grouped' : '') + (m.deleted ? ' deleted' : '') + (m.status === 'failed' ? ' failed' : ''),
    'data-testid': 'message', 'data-client-id': m.clientId, 'data-seq': m.seq ? String(m.seq) : '',
    'data-sender': m.sender, 'data-status': m.own ? m.status : null, id: m.seq ? `m-${m.seq}` : null,
  },
  h('div', { class: 'msg-row' },
    h('div', { class: 'bubble', onclick: (ev) => { if (!ev.target.closest('a,button')) ev.currentTarget.closest('.msg').classList.toggle('show-actions'); } }, body),
    actions.length && !confirming ? h('div', { class: 'msg-actions' }, actions) : null),
  confirming ? h('div', { class: 'confirm', role: 'group', 'aria-label': 'Delete this message?' },
    h('span', null, 'Delete for everyone?'),
    h('button', { type: 'button', class: 'btn btn-danger btn-small', 'data-testid': 'confirm-delete', onclick: () => doDelete(r, m.seq) }, 'Delete'),
    h('button', { type: 'button', class: 'btn btn-small', onclick: () => { S.confirmDelete = 0; render(); } }, 'Cancel')) : null,
  m.showStatus ? h('div', { class: 'msg-status status-' + m.status, 'data-testid': 'message-status' },
    m.status === 'failed' ? [
      h('span', null, 'Not sent' + (m.error ? ': ' + m.error : '')),
      h('button', { type: 'button', class: 'link-btn', 'data-testid': 'retry', onclick: () => live.retry(m.clientId) }, 'Retry'),
      h('button', { type: 'button', class: 'link-btn', 'data-testid': 'discard', onclick: () => live.discard(m.clientId) }, 'Discard'),
    ] : m.label) : null,
  m.op ? h('div', { class: 'msg-status status-failed', 'data-testid': 'op-failed', 'data-op': m.op.type, 'data-op-id': m.op.id },
    h('span', null, (m.op.type === 'edit' ? 'Edit not saved' : 'Not deleted') + (m.op.error ? ': ' + m.op.error : '')),
    h('button', { type: 'button', class: 'link-btn', 'data-testid': 'retry', onclick: () => live.retry(m.op.id) }, 'Retry'),
    h('button', { type: 'button', class: 'link-btn', 'data-testid': 'discard', onclick: () => live.discard(m.op.id) }, 'Discard')) : null);
  return el;
}

function jumpTo(r, seq) {
  const el = document.getElementById('m-' + seq);
  if (!el) return;
  el.scrollIntoView({ block: 'center', behavior: 'smooth' });
  el.classList.add('flash');
  setTimeout(() => el.classList.remove('flash'), 1200);
}

// ---------- composing ----------

function renderComposerContext(r) {
  const ctx = $('#composer-context');
  let title = '';
  let text = '';
  if (S.editing && S.editing.room === r.id) {
    title = 'Editing message';
    const ev = r.events.get(S.editing.seq);
    text = ev ? textOf(r, ev) : '';
  } else if (S.replyTo && S.replyTo.room === r.id) {
    const ev = r.events.get(S.replyTo.seq);
    title = 'Replying to ' + (ev ? (ev.sender === me() ? 'yourself' : userName(ev.sender)) : 'a message');
    text = ev ? textOf(r, ev) : '';
  }
  ctx.hidden = !title;
  $('#ctx-title').textContent = title;
  $('#ctx-text').textContent = truncate(text, 120);
}

function startReply(r, seq) {
  S.editing = null;
  S.replyTo = { room: r.id, seq };
  render();
  $('#composer-input').focus();
}

function startEdit(r, seq) {
  const ev = r.events.get(seq);
  if (!ev) return;
  S.replyTo = null;
  S.editing = { room: r.id, seq };
  const input = $('#composer-input');
  input.value = textOf(r, ev);
  autosize(input);
  render();
  input.focus();
}

function cancelContext() {
  if (S.editing) $('#composer-input').value = '';
  S.editing = null;
  S.replyTo = null;
  autosize($('#composer-input'));
  render();
}

function askDelete(seq) {
  S.confirmDelete = seq;
  render();
}

function doDelete(r, seq) {
  S.confirmDelete = 0;
  live.enqueue({ id: newClientID(), type: 'delete', room: r.id, target: seq });
  render();
}

function submitComposer() {
  const r = S.rooms.get(S.open);
  const input = $('#composer-input');
  const text = input.value;
  if (!r || !text.trim()) return;
  if (new TextEncoder().encode(text).length > 16384) {
    input.setCustomValidity('This message is too long (16 KiB at most).');
    input.reportValidity();
    return;
  }
  input.setCustomValidity('');
  if (S.editing && S.editing.room === r.id) {
    live.enqueue({ id: newClientID(), type: 'edit', room: r.id, target: S.editing.seq, text });
    S.editing = null;
  } else {
    const e = { id: newClientID(), type: 'send', room: r.id, text };
    if (S.replyTo && S.replyTo.room === r.id) e.reply_to = S.replyTo.seq;
    live.enqueue(e);
    S.replyTo = null;
    stickToBottom = true;
  }
  input.value = '';
  autosize(input);
  render();
}

function autosize(el) {
  el.style.height = 'auto';
  el.style.height = Math.min(el.scrollHeight, 200) + 'px';
}

// ---------- rooms: open, create, invite, leave ----------

function openRoom(id) {
  const r = S.rooms.get(id);
  if (!r) return;
  const left = S.open !== id && S.rooms.get(S.open);
  if (S.open !== id) {
    S.replyTo = null;
    if (S.editing) $('#composer-input').value = '';
    S.editing = null;
    S.confirmDelete = 0;
  }
  S.open = id;
  if (left) trim(left);
  history.replaceState(null, '', '#/r/' + id);
  if (!r.loaded) queueLoad(r, true);
  loadReceipts(r);
  if (!r.memberList) loadMembers(r);
  stickToBottom = true;
  render();
  // Focus follows the view: the composer on a desktop; on a phone, where
  // the list (and the button just pressed) is hidden, the room's title.
  const wide = matchMedia('(min-width: 700px)').matches;
  requestAnimationFrame(() => (wide ? $('#composer-input') : $('#conv-title')).focus());
}

function closeRoom() {
  const id = S.open;
  // Focus in the closing conversation would be lost with it: it goes to
  // the room in the list (or, if it is gone, the new conversation button).
  const a = document.activeElement;
  const refocus = !a || a === document.body || $('#conv').contains(a);
  S.open = null;
  const left = S.rooms.get(id);
  if (left) trim(left);
  history.replaceState(null, '', location.pathname);
  render();
  if (refocus) {
    requestAnimationFrame(() => {
      const b = id && document.querySelector(`[data-testid=room-item][data-room-id="${CSS.escape(id)}"]`);
      (b || $('#new-chat-btn')).focus();
    });
  }
}

function normHandle(s) {
  return s.trim().replace(/^@/, '').toLowerCase();
}

async function createDirect(handle) {
  const room = await api.post('/v1/direct', { user: normHandle(handle) });
  roomOf(room);
  openRoom(room.id);
}

async function createGroup(name, members) {
  const list = members.split(/[,\s]+/).map(normHandle).filter(Boolean);
  const room = await api.post('/v1/rooms', { name: name.trim(), members: list });
  roomOf(room);
  openRoom(room.id);
}

// ---------- dialogs ----------

function wireDialogs() {
  for (const d of document.querySelectorAll('dialog')) {
    for (const b of d.querySelectorAll('.dialog-close')) {
      b.replaceChildren(icon('close'));
      b.addEventListener('click', () => d.close());
    }
    d.addEventListener('click', (ev) => {
      if (ev.target === d) d.close(); // a click on the backdrop
    });
  }
}

function formError(form, msg) {
  const el = form.querySelector('.form-error');
  el.textContent = msg || '';
}

function busy(form, on) {
  for (const b of form.querySelectorAll('button[type=submit]')) b.disabled = on;
}

function openNewChat() {
  const d = $('#new-chat');
  for (const f of d.querySelectorAll('form')) {
    f.reset();
    formError(f, '');
  }
  d.showModal();
  $('#direct-handle').focus();
}

async function openRoomDialog() {
  const r = S.rooms.get(S.open);
  if (!r) return;
  const d = $('#room-dialog');
  d.dataset.room = r.id;
  renderRoomDialogHead(r);
  // Any member of a group may rename it; a direct room has no name.
  const rename = $('#rename-form');
  rename.hidden = r.kind !== 'group';
  rename.reset();
  formError(rename, '');
  $('#rename-status').textContent = '';
  $('#rename-input').value = r.kind === 'group' ? roomName(r) : '';
  $('#invite-form').hidden = r.kind !== 'group';
  $('#leave-area').hidden = r.kind !== 'group';
  formError($('#invite-form'), '');
  $('#invite-form').reset();
  renderMembers(r);
  d.showModal();
  await loadMembers(r);
  renderMembers(r);
}

// renderRoomDialogHead names the room in its open details dialog (a rename
// by someone else shows there too).
function renderRoomDialogHead(r) {
  const title = $('#room-dialog-title');
  const sub = $('#room-dialog-sub');
  const name = roomName(r);
  const subText = r.kind === 'direct' ? 'Direct conversation' : `Group · ${r.members} members`;
  if (title.textContent !== name) title.textContent = name;
  if (sub.textContent !== subText) sub.textContent = subText;
}

// renameError says why a rename failed.
function renameError(e) {
  if (!(e instanceof ApiError)) return 'Something went wrong. Please try again.';
  switch (e.code) {
    case 'network': return 'Cannot reach the server. Check your connection and try again.';
    case 'too_large': return 'That name is too long: 128 bytes at most.';
    case 'forbidden': return 'You are not a member of this group any more.';
    case 'conflict': return 'A direct conversation cannot be renamed.';
    default: return e.message || 'Could not rename the group.';
  }
}

function renderMembers(r) {
  const ul = $('#member-list');
  const ms = r.memberList || [];
  ul.replaceChildren(...ms.map((m) => h('li', { class: 'member', 'data-testid': 'member', 'data-handle': m.handle },
    avatar(m.id, displayName(m), 'small'),
    h('span', { class: 'member-name', dir: 'auto' }, displayName(m) + (m.id === me() ? ' (you)' : '')),
    h('span', { class: 'member-handle' }, '@' + m.handle),
    m.role === 'admin' ? h('span', { class: 'pill' }, 'admin') : null)));
  if (!ms.length) ul.replaceChildren(h('li', { class: 'muted' }, 'Loading members…'));
}

async function openSettings() {
  const d = $('#settings-dialog');
  const u = S.session.user;
  $('#me-card').replaceChildren(avatar(u.id, displayName(u), 'large'),
    h('div', null, h('div', { class: 'me-name', dir: 'auto' }, displayName(u)), h('div', { class: 'muted' }, '@' + u.handle)));
  renderNotify();
  $('#device-error').textContent = '';
  d.showModal();
  await loadDevices();
}

async function loadDevices() {
  const ul = $('#device-list');
  ul.replaceChildren(h('li', { class: 'muted' }, 'Loading devices…'));
  try {
    const ds = await api.get('/v1/devices');
    ul.replaceChildren(...(ds || []).map((d) => h('li', { class: 'device', 'data-testid': 'device', 'data-device-id': d.id },
      h('div', { class: 'device-main' },
        h('div', { class: 'device-name', dir: 'auto' }, d.name || 'Unnamed device', d.current ? h('span', { class: 'pill' }, 'this device') : null),
        h('div', { class: 'muted small' }, 'Signed in ' + new Date(d.created).toLocaleDateString() +
          (d.last_seen ? ' · last active ' + new Date(d.last_seen).toLocaleString() : ''))),
      d.current ? null : h('button', {
        type: 'button', class: 'btn btn-small', 'data-testid': 'revoke', 'aria-label': 'Sign out ' + (d.name || 'device'),
        onclick: async (ev) => {
          ev.currentTarget.disabled = true;
          try {
            await api.del('/v1/devices/' + enc(d.id));
            await loadDevices();
          } catch (e) {
            $('#device-error').textContent = e.message;
          }
        },
      }, 'Sign out'))));
  } catch (e) {
    ul.replaceChildren();
    $('#device-error').textContent = e.message;
  }
}

function renderNotify() {
  const btn = $('#notify-btn');
  const state = $('#notify-state');
  if (!('Notification' in window)) {
    btn.disabled = true;
    state.textContent = 'This browser does not support notifications.';
    return;
  }
  const on = S.notify && Notification.permission === 'granted';
  btn.setAttribute('aria-pressed', on ? 'true' : 'false');
  btn.textContent = on ? 'Turn off' : 'Turn on';
  if (Notification.permission === 'denied') {
    state.textContent = 'Notifications are blocked for this site in your browser’s settings.';
    btn.disabled = true;
  } else {
    state.textContent = on ? 'You get a notification for new messages while this tab is in the background.'
      : 'Get a notification for new messages while this tab is in the background.';
  }
}

async function toggleNotify() {
  const btn = $('#notify-btn');
  let asked = '';
  if (S.notify) {
    S.notify = false;
  } else {
    // The browser asks on this click (once: it remembers the answer).
    btn.disabled = true;
    try {
      asked = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
    } catch {
      asked = 'default';
    } finally {
      btn.disabled = false;
    }
    S.notify = asked === 'granted';
  }
  store.setItem('dandan.notify', S.notify ? '1' : '0');
  renderNotify();
  if (asked === 'default') $('#notify-state').textContent = 'Notifications were not allowed. Try again, and allow them when your browser asks.';
}

// ---------- session ----------

function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  return (browser + (os ? ' on ' + os : '')).slice(0, 64);
}

function saveSession(s) {
  S.session = { token: s.token, user: s.user, device: s.device };
  store.setItem('dandan.session', JSON.stringify(S.session));
}

function loadSession() {
  try {
    const s = JSON.parse(store.getItem('dandan.session') || 'null');
    if (s && s.token && s.user && s.user.id) return s;
  } catch {
    // A damaged session is no session.
  }
  return null;
}

// tabStorage is sessionStorage (where this tab keeps its id), if the
// browser lets the page use it.
function tabStorage() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

function startChat() {
  $('#boot').hidden = true;
  $('#auth').hidden = true;
  $('#chat').hidden = false;
  S.users.set(me(), S.session.user);
  live = new Live({
    sites, getToken: () => S.session.token, getCursors: cursors, storage: store, tabStorage: tabStorage(), user: me(),
    on: {
      status: () => renderConn(),
      event: onEvent, room: onRoom, left: onLeft, receipt: (x) => { applyReceipt(x); render(); },
      typing: onTyping, synced: onSynced, ack: onAck, outbox: render,
      connected: () => { S.synced = false; },
      unauthorized: () => signedOut('Your session ended. Please sign in again.'),
    },
  });
  live.start();
  const ep = epoch;
  api.get('/v1/rooms').then((rooms) => {
    if (ep !== epoch) return;
    for (const x of rooms || []) onRoom(x);
    const m = /^#\/r\/([a-z0-9]+)$/.exec(location.hash);
    if (m && S.rooms.has(m[1]) && !S.open) openRoom(m[1]);
  }).catch(() => {});
  api.get('/v1/me').then((u) => {
    if (ep === epoch && u && u.id === me()) {
      S.session.user = u;
      S.users.set(u.id, u);
      store.setItem('dandan.session', JSON.stringify(S.session));
    }
  }).catch(() => {});
  render();
}

function resetState() {
  epoch++;
  if (live) live.stop();
  live = null;
  S.rooms.clear();
  userFetches.clear();
  loadQueue.length = 0;
  S.users.clear();
  S.acked.clear();
  S.missed.clear();
  S.open = null;
  S.replyTo = null;
  S.editing = null;
  S.synced = false;
  roomEls.clear();
  msgEls.clear();
  msgRoom = null;
  $('#room-list').replaceChildren();
  $('#messages').replaceChildren();
}

// signedOut forgets the session (and the unsent messages of this device:
// the outbox of every tab of the user).
function signedOut(message) {
  const user = me();
  // This tab writes its outbox no more; the session goes first, so that
  // the user's other tabs sign out before they see their outboxes go.
  if (live) live.stop();
  store.removeItem('dandan.session');
  if (user) clearOutboxes(store, user);
  // Notifications were turned on by this user: whoever signs in next on
  // this browser turns them on for themselves.
  store.removeItem('dandan.notify');
  S.notify = false;
  S.session = null;
  resetState();
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
  history.replaceState(null, '', location.pathname);
  showAuth('signin', message);
}

async function signOut(all) {
  try {
    await api.post(all ? '/v1/signout-all' : '/v1/signout');
  } catch {
    // The token is forgotten here anyway.
  }
  signedOut('');
}

function showAuth(tab, message) {
  $('#boot').hidden = true;
  $('#chat').hidden = true;
  $('#auth').hidden = false;
  selectTab(tab || 'signin');
  formError($('#signin-form'), message || '');
}

function selectTab(which) {
  const signin = which === 'signin';
  $('#tab-signin').setAttribute('aria-selected', String(signin));
  $('#tab-signup').setAttribute('aria-selected', String(!signin));
  $('#signin-form').hidden = !signin;
  $('#signup-form').hidden = signin;
}

function authError(e) {
  if (!(e instanceof ApiError)) return 'Something went wrong. Please try again.';
  switch (e.code) {
    case 'bad_credentials': return 'Wrong handle or password.';
    case 'handle_taken': return 'That handle is taken. Try another one.';
    case 'network': return 'Cannot reach the server. Check your connection and try again.';
    default: return e.message;
  }
}

// ---------- wiring ----------

function wire() {
  $('#new-chat-btn').replaceChildren(icon('plus'));
  $('#settings-btn').replaceChildren(icon('settings'));
  $('#back-btn').replaceChildren(icon('back'));
  $('#info-btn').replaceChildren(icon('info'));
  $('#ctx-cancel').replaceChildren(icon('close'));
  $('#send-btn').replaceChildren(icon('send'));
  wireDialogs();

  $('#tab-signin').addEventListener('click', () => selectTab('signin'));
  $('#tab-signup').addEventListener('click', () => selectTab('signup'));
  for (const tab of document.querySelectorAll('[role=tab]')) {
    tab.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight') {
        const next = tab.id === 'tab-signin' ? 'signup' : 'signin';
        selectTab(next);
        $('#tab-' + next).focus();
      }
    });
  }

  $('#signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.currentTarget;
    formError(f, '');
    busy(f, true);
    try {
      const s = await api.post('/v1/signin', {
        handle: normHandle($('#signin-handle').value), password: $('#signin-password').value, device_name: deviceName(),
      }, { noAuth: true });
      saveSession(s);
      f.reset();
      startChat();
    } catch (e) {
      formError(f, authError(e));
    } finally {
      busy(f, false);
    }
  });

  $('#signup-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.currentTarget;
    formError(f, '');
    const handle = normHandle($('#signup-handle').value);
    const password = $('#signup-password').value;
    if (!/^[a-z][a-z0-9_]{2,31}$/.test(handle)) return formError(f, 'A handle has 3–32 lower-case letters, digits or _, and starts with a letter.');
    if (password.length < 8) return formError(f, 'The password needs at least 8 characters.');
    busy(f, true);
    try {
      const body = { handle, password, device_name: deviceName() };
      const name = $('#signup-name').value.trim();
      if (name) body.display_name = name;
      const s = await api.post('/v1/signup', body, { noAuth: true });
      saveSession(s);
      f.reset();
      startChat();
    } catch (e) {
      formError(f, authError(e));
    } finally {
      busy(f, false);
    }
  });

  $('#new-chat-btn').addEventListener('click', openNewChat);
  $('#rooms-empty-btn').addEventListener('click', openNewChat);
  $('#settings-btn').addEventListener('click', openSettings);
  $('#info-btn').addEventListener('click', openRoomDialog);
  $('#back-btn').addEventListener('click', closeRoom);
  $('#notify-btn').addEventListener('click', toggleNotify);
  $('#signout-btn').addEventListener('click', () => signOut(false));
  $('#signout-all-btn').addEventListener('click', () => signOut(true));

  $('#direct-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.currentTarget;
    const handle = $('#direct-handle').value;
    if (!normHandle(handle)) return formError(f, 'Enter a handle.');
    formError(f, '');
    busy(f, true);
    try {
      await createDirect(handle);
      $('#new-chat').close();
    } catch (e) {
      formError(f, e.code === 'not_found' ? `Nobody is called “${normHandle(handle)}”.` : e.message);
    } finally {
      busy(f, false);
    }
  });

  $('#group-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.currentTarget;
    const name = $('#group-name').value;
    if (!name.trim()) return formError(f, 'Give the group a name.');
    formError(f, '');
    busy(f, true);
    try {
      await createGroup(name, $('#group-members').value);
      $('#new-chat').close();
    } catch (e) {
      formError(f, e.message);
    } finally {
      busy(f, false);
    }
  });

  $('#rename-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.currentTarget;
    const r = S.rooms.get($('#room-dialog').dataset.room);
    const status = $('#rename-status');
    status.textContent = '';
    if (!r) return formError(f, 'You are not a member of this group any more.');
    if (r.kind !== 'group') return formError(f, 'A direct conversation cannot be renamed.');
    const name = $('#rename-input').value.trim();
    if (!name) return formError(f, 'Give the group a name.');
    if (new TextEncoder().encode(name).length > 128) return formError(f, 'That name is too long: 128 bytes at most.');
    if (name === r.name) return formError(f, 'The group already has that name.');
    formError(f, '');
    busy(f, true);
    try {
      const room = await api.patch(`/v1/rooms/${enc(r.id)}`, { name });
      // The room.renamed event names the room everywhere; the answer
      // does too unless that event is already here.
      if (room && room.id === r.id) roomOf(room);
      const now = (room && room.name) || name;
      $('#rename-input').value = now;
      status.textContent = `Renamed to “${now}”.`;
      render();
    } catch (e) {
      formError(f, renameError(e));
    } finally {
      busy(f, false);
    }
  });

  $('#invite-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.currentTarget;
    const r = S.rooms.get(S.open);
    const handle = normHandle($('#invite-handle').value);
    if (!r || !handle) return formError(f, 'Enter a handle.');
    formError(f, '');
    busy(f, true);
    try {
      await api.post(`/v1/rooms/${enc(r.id)}/members`, { users: [handle] });
      f.reset();
      await loadMembers(r);
      renderMembers(r);
    } catch (e) {
      formError(f, e.code === 'not_found' ? `Nobody is called “${handle}”.` : e.message);
    } finally {
      busy(f, false);
    }
  });

  $('#leave-btn').addEventListener('click', async () => {
    const r = S.rooms.get(S.open);
    if (!r) return;
    try {
      await api.post(`/v1/rooms/${enc(r.id)}/leave`);
      $('#room-dialog').close();
      onLeft(r.id);
    } catch (e) {
      formError($('#invite-form'), e.message);
    }
  });

  const input = $('#composer-input');
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      submitComposer();
    } else if (ev.key === 'Escape' && (S.editing || S.replyTo)) {
      ev.preventDefault();
      cancelContext();
    }
  });
  input.addEventListener('input', () => {
    autosize(input);
    const now = Date.now();
    if (input.value.trim() && S.open && !S.editing && now - S.lastTyping > TYPING_SEND_EVERY && live) {
      S.lastTyping = now;
      live.typing(S.open);
    }
  });
  $('#composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitComposer();
    input.focus();
  });
  $('#ctx-cancel').addEventListener('click', () => {
    cancelContext();
    input.focus();
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && S.confirmDelete) {
      S.confirmDelete = 0;
      render();
    }
  });

  // A view at the bottom stays there when its size changes (a phone's
  // keyboard, a window resized, the composer growing).
  new ResizeObserver(() => {
    const box = $('#messages');
    if (wasAtBottom) box.scrollTop = box.scrollHeight;
  }).observe($('#messages'));
  $('#messages').addEventListener('scroll', () => {
    const r = S.rooms.get(S.open);
    const box = $('#messages');
    wasAtBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    if (r && box.scrollTop < 300 && r.hasMore && !r.loadingOlder) loadOlder(r);
  }, { passive: true });

  document.addEventListener('visibilitychange', () => {
    if (visible()) render();
  });
  addEventListener('storage', (ev) => {
    // Signed out in another tab.
    if (ev.key === 'dandan.session' && !ev.newValue && S.session) signedOut('');
  });
}

function boot() {
  wire();
  S.session = loadSession();
  if (S.session) startChat();
  else showAuth('signin');
  sites.discover().catch(() => {});
  // Sites are also learned on every connection; this catches nodes added
  // to the cluster while a tab stays open for days.
  setInterval(() => sites.discover().catch(() => {}), 10 * 60 * 1000);
}

boot();
