// The network side of the client: the cluster's sites, HTTP calls with
// failover, and the live WebSocket connection with its outbox. It mirrors
// the Go SDK (package client): reconnect with jittered back-off, resume from
// per-room cursors with a sync frame, resend unacknowledged sends with the
// same client id (the server stores each id once), and hold every send after
// a refusal for load, then send them a few at a time.

export class ApiError extends Error {
  constructor(code, message, status, retryAfterMs) {
    super(message || code);
    this.code = code;
    this.status = status || 0;
    this.retryAfterMs = retryAfterMs || 0;
  }
}

const retryable = new Set(['rate_limited', 'overloaded', 'unavailable', 'cut_off']);
const refusal = new Set(['rate_limited', 'overloaded']);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// jitter adds up to a quarter more to a wait, so that clients refused
// together do not come back at the same instant.
export function jitter(ms) {
  return ms + Math.random() * (ms / 4);
}

export function normBase(u) {
  try {
    const url = new URL(u);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return '';
    return url.origin;
  } catch {
    return '';
  }
}

// Sites is every node the client may use: the page's own origin first, then
// those /v1/cluster lists, remembered across reloads. One of them is
// current, for HTTP and WebSocket alike; failures move it to the next.
export class Sites {
  constructor(origin, storage) {
    this.storage = storage;
    this.list = [];
    this.names = {};
    this.origin = normBase(origin);
    this.add(this.origin);
    let saved = null;
    try {
      saved = JSON.parse(storage.getItem('dandan.sites') || 'null');
    } catch {
      saved = null;
    }
    if (saved && Array.isArray(saved.list)) {
      for (const u of saved.list) this.add(u);
      Object.assign(this.names, saved.names || {});
    }
    this.cur = 0;
    this.listeners = [];
  }

  add(u, name) {
    const b = normBase(u);
    if (!b) return;
    if (!this.list.includes(b)) this.list.push(b);
    if (name) this.names[b] = name;
  }

  save() {
    this.storage.setItem('dandan.sites', JSON.stringify({ list: this.list, names: this.names }));
  }

  current() {
    return this.list[this.cur % this.list.length];
  }

  // advance moves to the next site after base failed (if base is still the
  // current one: concurrent failures move it once).
  advance(base) {
    if (this.list.length > 1 && this.current() === base) {
      this.cur = (this.cur + 1) % this.list.length;
      for (const f of this.listeners) f();
    }
  }

  use(base) {
    const i = this.list.indexOf(base);
    if (i >= 0 && i !== this.cur) {
      this.cur = i;
      for (const f of this.listeners) f();
    }
  }

  name(base) {
    if (this.names[base]) return this.names[base];
    try {
      return new URL(base).host;
    } catch {
      return base;
    }
  }

  // discover asks the current site for the cluster's nodes.
  async discover() {
    const base = this.current();
    const res = await fetch(base + '/v1/cluster', { cache: 'no-store', credentials: 'omit' });
    if (!res.ok) return;
    const c = await res.json();
    if (c && Array.isArray(c.nodes)) {
      for (const n of c.nodes) if (n && typeof n.url === 'string') this.add(n.url, n.name || n.dc);
    }
    if (c && c.node && !this.names[base]) this.names[base] = c.node;
    this.save();
  }
}

async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  const e = body && body.error;
  let ra = (e && e.retry_after_ms) || 0;
  if (!ra) {
    const h = parseInt(res.headers.get('Retry-After') || '', 10);
    if (h > 0) ra = h * 1000;
  }
  if (e && e.code) return new ApiError(e.code, e.message, res.status, ra);
  const code =
    res.status === 401 ? 'unauthorized' : res.status === 403 ? 'forbidden' : res.status === 404 ? 'not_found'
    : res.status === 429 ? 'rate_limited' : res.status >= 502 && res.status <= 504 ? 'unavailable' : 'internal';
  return new ApiError(code, res.statusText || code, res.status, ra);
}

// Api makes HTTP calls to the current site. A network error, or a site that
// is cut off or unavailable, moves the call to the next site; a refusal for
// load is retried on the same site after the wait it asks (four times).
export class Api {
  constructor(sites, getToken, onUnauthorized) {
    this.sites = sites;
    this.getToken = getToken;
    this.onUnauthorized = onUnauthorized;
  }

  async call(method, path, body, opts = {}) {
    const n = this.sites.list.length;
    let moves = 0;
    let refusals = 0;
    let waits = 0;
    for (;;) {
      const base = this.sites.current();
      const headers = { Accept: 'application/json' };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const tok = this.getToken();
      if (tok && !opts.noAuth) headers.Authorization = 'Bearer ' + tok;
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(), opts.timeout || 15000);
      let res;
      try {
        res = await fetch(base + path, {
          method, headers, body: body === undefined ? undefined : JSON.stringify(body),
          cache: 'no-store', credentials: 'omit', signal: ctl.signal,
        });
      } catch (err) {
        clearTimeout(timer);
        if (moves < n - 1) {
          moves++;
          this.sites.advance(base);
          continue;
        }
        throw new ApiError('network', navigator.onLine === false ? 'You are offline' : 'Cannot reach the server', 0);
      }
      clearTimeout(timer);
      if (res.ok) {
        if (res.status === 204) return null;
        const text = await res.text();
        return text ? JSON.parse(text) : null;
      }
      const e = await errorOf(res);
      if ((e.code === 'cut_off' || e.code === 'unavailable') && moves < n - 1) {
        moves++;
        this.sites.advance(base);
        continue;
      }
      if (refusal.has(e.code) && refusals < 4) {
        refusals++;
        await sleep(jitter(e.retryAfterMs || 100));
        continue;
      }
      if (e.code === 'unavailable' && waits < 3) {
        waits++;
        await sleep(jitter(e.retryAfterMs || 500));
        continue;
      }
      // Only the token this call used is known to be refused: an answer
      // to a call made before a sign-out must not sign out who came next.
      if (e.code === 'unauthorized' && !opts.noAuth && this.onUnauthorized && tok && tok === this.getToken()) this.onUnauthorized();
      throw e;
    }
  }

  get(path, opts) {
    return this.call('GET', path, undefined, opts);
  }
  post(path, body, opts) {
    return this.call('POST', path, body === undefined ? {} : body, opts);
  }
  patch(path, body, opts) {
    return this.call('PATCH', path, body === undefined ? {} : body, opts);
  }
  del(path, opts) {
    return this.call('DELETE', path, undefined, opts);
  }
}

// newClientID returns a fresh client message id (letters, digits, - _).
export function newClientID() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  let s = 'w';
  for (const x of b) s += x.toString(36).padStart(2, '0').slice(-2);
  return s + '-' + Date.now().toString(36);
}

function wsURL(base) {
  return base.replace(/^http/, 'ws') + '/v1/ws';
}

const MIN_BACKOFF = 200;
const MAX_BACKOFF = 5000;
const ACK_TIMEOUT = 10000;
const PING_EVERY = 15000;
const READ_TIMEOUT = 40000;
const HANDSHAKE_TIMEOUT = 10000;
const MAX_WINDOW = 256;
// A WebSocket message from the client is at most 64 KiB of UTF-8, or the
// server closes the connection: batches stay well under that, and a frame
// that alone is over it can never be sent (it fails, instead of breaking
// every connection it is written on).
const BATCH_BYTES = 32 * 1024;
const MAX_FRAME_BYTES = 64 * 1024;
const utf8 = new TextEncoder();

// utf8Len is the length of s in bytes of UTF-8, as the server counts it
// (String.length counts UTF-16 units: a Korean syllable is 1, but 3 bytes).
export function utf8Len(s) {
  return utf8.encode(s).length;
}

// validID is a client message id the server accepts.
const validID = (id) => typeof id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(id);

// The outboxes in localStorage (see Live.loadOutbox).
const OUTBOX = 'dandan.outbox.';
const BEAT_EVERY = 5000; // a live tab's heartbeat
const STALE_AFTER = 30000; // a heartbeat older than this: the tab is gone
const CLOSED_AFTER = 4000; // a tab marked closed that a reload has not taken back
const ADOPT_EVERY = 12000; // look for orphans (plus up to a quarter)

function randomID() {
  const b = new Uint8Array(9);
  crypto.getRandomValues(b);
  let s = '';
  for (const x of b) s += x.toString(36).padStart(2, '0').slice(-2);
  return s;
}

// tabID is this tab's id, kept in sessionStorage (a reload keeps it, a new
// tab has its own); renew replaces it.
function tabID(session, renew) {
  let id = '';
  try {
    id = (!renew && session && session.getItem('dandan.tab')) || '';
  } catch {
    id = '';
  }
  if (!/^[a-z0-9]{8,32}$/.test(id)) {
    id = randomID();
    try {
      session && session.setItem('dandan.tab', id);
    } catch {
      // No sessionStorage: a reload starts a new outbox, and adopts the
      // old one once it is stale.
    }
  }
  return id;
}

// parseOutbox reads a saved outbox: {inst, beat, closed?, entries}, or a
// bare list of entries as versions before per-tab outboxes saved it; null
// if there is none.
function parseOutbox(v) {
  if (!v) return null;
  try {
    const x = JSON.parse(v);
    if (Array.isArray(x)) return { inst: '', beat: 0, entries: x };
    if (x && typeof x === 'object') return x;
  } catch {
    // Damaged: nothing to keep.
  }
  return { inst: '', beat: 0, entries: [] };
}

function readOutbox(storage, key) {
  try {
    return parseOutbox(storage.getItem(key));
  } catch {
    return null;
  }
}

function entriesOf(rec) {
  const a = rec && rec.entries;
  if (!Array.isArray(a)) return [];
  return a.filter((e) => e && validID(e.id) && e.room).map((e) => ({ ...e, wire: 0, retryAt: 0 }));
}

// stale: the outbox's tab is gone (closed, crashed, or its browser quit).
function stale(rec, now) {
  const age = Math.abs(now - ((rec && rec.beat) || 0));
  return age > STALE_AFTER || (!!(rec && rec.closed) && age > CLOSED_AFTER);
}

// clearOutboxes removes every outbox of user in storage: every tab's, and
// the one of versions before per-tab outboxes.
export function clearOutboxes(storage, user) {
  const keys = [];
  for (let i = 0; i < storage.length; i++) {
    const k = storage.key(i);
    if (k === OUTBOX + user || (k && k.startsWith(OUTBOX + user + '.'))) keys.push(k);
  }
  for (const k of keys) storage.removeItem(k);
}

// Live keeps a WebSocket to the cluster. It reports what happens to the
// handlers given: status, room, event, left, receipt, typing, synced, ack,
// outbox (the outbox changed), unauthorized.
export class Live {
  constructor({ sites, getToken, getCursors, storage, tabStorage, user, on, timeouts }) {
    this.sites = sites;
    // How long a connection may keep an answer waiting (tests shorten them).
    this.ackTimeout = (timeouts && timeouts.ack) || ACK_TIMEOUT;
    this.handshakeTimeout = (timeouts && timeouts.handshake) || HANDSHAKE_TIMEOUT;
    this.getToken = getToken;
    this.getCursors = getCursors;
    this.storage = storage;
    this.tabStorage = tabStorage;
    this.legacyKey = OUTBOX + user;
    this.prefix = OUTBOX + user + '.';
    this.inst = randomID(); // this page load: whose writes a tab's key holds
    this.on = on;
    this.ws = null;
    this.gen = 0;
    this.ready = false;
    this.stopped = true;
    this.attempt = 0;
    this.lastSite = '';
    this.status = { state: 'connecting' };
    this.entries = []; // the outbox, in order
    this.gone = false; // the page is being unloaded
    this.beatTimer = null;
    this.adoptTimer = null;
    this.adoptSoon = null;
    this.loadOutbox();
    this.holdUntil = 0;
    this.window = 0;
    this.receipts = new Map(); // room → {d, r} to send
    this.receiptsSent = new Map(); // room → {d, r} written
    this.receiptsAt = new Map(); // room → time before which none is sent
    this.resyncAt = 0;
    this.timer = null;
    this.reconnectTimer = null;
    this.giveUp = null; // gives the current socket up (see connect)
    this.lastRead = 0;
    this.onOnline = () => this.kickReconnect();
    this.onOffline = () => {
      if (!this.ready) this.setStatus({ state: 'offline' });
    };
    // Closing (or reloading) the tab marks its outbox closed, for another
    // tab to adopt it soon (a reload takes it back first); an empty one
    // is simply removed.
    this.onPageHide = () => {
      if (this.stopped) return;
      this.gone = true;
      if (this.entries.length) this.writeOutbox(true);
      else this.storage.removeItem(this.key);
    };
    this.onPageShow = (ev) => {
      if (!ev.persisted) return;
      this.gone = false; // back from the back-forward cache
      this.beat();
    };
    this.onStorage = (ev) => this.storageChanged(ev);
  }

  // The outbox is kept in localStorage so that messages typed offline, or
  // not yet acknowledged when the page closed, are sent later, once.
  //
  // Each tab has an outbox of its own, under dandan.outbox.<user>.<tab>:
  // tabs of one user in one browser never write over each other's. The
  // tab's id is random, kept in sessionStorage, so a reload of the tab
  // takes its outbox back. The key holds {inst, beat, closed?, entries}:
  // the page load that writes it, and a heartbeat refreshed every few
  // seconds while the tab lives (the entries are written on every change,
  // and with every heartbeat). The outboxes of closed tabs (a stale
  // heartbeat, or marked closed on the way out) are adopted by a tab of
  // the same user, which sends them (see adopt). The keys carry the user's
  // id: nothing of another user is ever adopted, and signing out removes
  // them all (clearOutboxes).
  loadOutbox() {
    this.tab = tabID(this.tabStorage);
    this.key = this.prefix + this.tab;
    let rec = readOutbox(this.storage, this.key);
    if (rec && rec.inst && !rec.closed && !stale(rec, Date.now())) {
      // Another page lives with this tab's id: a duplicated tab, whose
      // sessionStorage was copied. It keeps that key; this tab takes a
      // new one.
      this.newTab();
      rec = readOutbox(this.storage, this.key);
    }
    this.entries = entriesOf(rec);
    this.writeOutbox(false);
  }

  // newTab gives this tab a new id, and so a new key.
  newTab() {
    this.tab = tabID(this.tabStorage, true);
    this.key = this.prefix + this.tab;
  }

  // writeOutbox writes this tab's outbox with a fresh heartbeat; false if
  // it could not (storage full: the outbox still lives in memory).
  writeOutbox(closed) {
    const entries = this.entries.map(({ id, type, room, text, reply_to, target, created, state, error }) =>
      ({ id, type, room, text, reply_to, target, created, state, error }));
    const rec = { inst: this.inst, beat: Date.now(), entries };
    if (closed) rec.closed = true;
    try {
      this.storage.setItem(this.key, JSON.stringify(rec));
      return true;
    } catch {
      return false;
    }
  }

  saveOutbox() {
    this.writeOutbox(false);
    this.on.outbox && this.on.outbox();
  }

  // beat refreshes the heartbeat. If another page wrote this tab's key
  // (a duplicated tab, or one that closed over it), what it holds is kept,
  // and this tab moves to a key of its own if that page lives. A key
  // removed by a tab that took this one for closed (a background tab's
  // timers can be late) is written again: the entries live in memory.
  beat() {
    if (this.stopped || this.gone) return;
    const rec = readOutbox(this.storage, this.key);
    if (rec && rec.inst !== this.inst) {
      if (this.merge(entriesOf(rec))) {
        this.on.outbox && this.on.outbox();
        this.schedule(0);
      }
      if (!rec.closed && !stale(rec, Date.now())) this.newTab();
    }
    this.writeOutbox(false);
  }

  // merge adds entries not yet in the outbox (by client id), in the order
  // they were typed; it returns how many it added.
  merge(list) {
    let n = 0;
    for (const e of list) {
      if (this.entries.some((x) => x.id === e.id)) continue;
      this.entries.push(e);
      n++;
    }
    // Stable: each tab's entries keep their order.
    if (n) this.entries.sort((a, b) => (a.created || 0) - (b.created || 0));
    return n;
  }

  // adopt takes over the outboxes of this user's closed tabs, and the one
  // outbox of the user that versions before per-tab outboxes saved. Their
  // entries join this tab's outbox with their client ids; each orphan key
  // is removed only once this tab's outbox is saved with them, so a tab
  // closing meanwhile loses nothing. Two tabs adopting the same orphan at
  // once both send its entries: that is harmless, as the server stores
  // each client id once and acknowledges a resend as a duplicate.
  adopt() {
    if (this.stopped || this.gone) return;
    const now = Date.now();
    const orphans = [];
    for (let i = 0; i < this.storage.length; i++) {
      const k = this.storage.key(i);
      if (k === this.legacyKey) orphans.push(k);
      else if (k && k !== this.key && k.startsWith(this.prefix) && stale(readOutbox(this.storage, k), now)) orphans.push(k);
    }
    if (!orphans.length) return;
    let n = 0;
    for (const k of orphans) n += this.merge(entriesOf(readOutbox(this.storage, k)));
    if (!this.writeOutbox(false)) return; // kept where they are, for later
    for (const k of orphans) this.storage.removeItem(k);
    if (n) {
      this.on.outbox && this.on.outbox();
      this.schedule(0);
    }
  }

  // storageChanged follows other tabs' writes: a tab closing is adopted
  // once a reload would have taken it back; a write to this tab's own key
  // is answered at once (see beat).
  storageChanged(ev) {
    if (this.stopped || this.gone || ev.storageArea !== this.storage || !ev.key) return;
    if (ev.key === this.key) {
      this.beat();
      return;
    }
    if (ev.key !== this.legacyKey && !ev.key.startsWith(this.prefix)) return;
    const rec = parseOutbox(ev.newValue);
    if ((ev.key === this.legacyKey && rec) || (rec && rec.closed)) {
      clearTimeout(this.adoptSoon);
      this.adoptSoon = setTimeout(() => this.adopt(), (rec && rec.closed ? CLOSED_AFTER : 0) + 100);
    }
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    addEventListener('online', this.onOnline);
    addEventListener('offline', this.onOffline);
    addEventListener('pagehide', this.onPageHide);
    addEventListener('pageshow', this.onPageShow);
    addEventListener('storage', this.onStorage);
    this.beatTimer = setInterval(() => this.beat(), BEAT_EVERY);
    this.adoptTimer = setInterval(() => this.adopt(), ADOPT_EVERY + Math.random() * ADOPT_EVERY / 4);
    this.adopt();
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.gen++; // nothing more of the current socket is handled
    removeEventListener('online', this.onOnline);
    removeEventListener('offline', this.onOffline);
    removeEventListener('pagehide', this.onPageHide);
    removeEventListener('pageshow', this.onPageShow);
    removeEventListener('storage', this.onStorage);
    clearInterval(this.beatTimer);
    clearInterval(this.adoptTimer);
    clearTimeout(this.adoptSoon);
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.timer);
    this.drop();
    this.ready = false;
  }

  // drop closes the current socket, if any, without waiting for it.
  drop() {
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try {
        ws.close(1000, 'bye');
      } catch {
        // already closed
      }
    }
  }

  setStatus(s) {
    this.status = s;
    this.on.status && this.on.status(s);
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.reconnectTimer);
    // A socket still in its handshake (the network came back meanwhile) is
    // dropped, not left open on the server, unused, for as long as it lives.
    this.drop();
    const base = this.sites.current();
    const gen = ++this.gen;
    this.ready = false;
    if (this.status.state !== 'refused' && this.status.state !== 'reconnecting' && this.status.state !== 'offline') {
      this.setStatus({ state: 'connecting', site: base });
    }
    let ws;
    try {
      ws = new WebSocket(wsURL(base));
    } catch {
      this.closed(gen, base, false, 0, '');
      return;
    }
    this.ws = ws;
    let opened = false;
    let authError = null;
    // giveUp closes this socket and goes on at once as if it had closed.
    // The browser reports a close the page starts only when the server
    // answers it (Chromium waits a minute for that): a server or network
    // path gone silent, the usual reason to give up, would hold the
    // reconnection, and every send, that long, the page saying Connected.
    const giveUp = (why) => {
      if (this.gen !== gen) return;
      this.gen++; // nothing more of this socket is handled
      try {
        ws.close(4000, why);
      } catch {
        // already closing
      }
      this.closed(this.gen, base, opened, 4000, why, authError);
    };
    this.giveUp = giveUp;
    const hs = setTimeout(() => {
      if (this.gen === gen && !this.ready) giveUp('handshake timeout');
    }, this.handshakeTimeout);
    ws.onopen = () => {
      opened = true;
      ws.send(JSON.stringify({ type: 'auth', token: this.getToken() }));
    };
    ws.onmessage = (m) => {
      if (this.gen !== gen) return;
      this.lastRead = Date.now();
      const lines = String(m.data).split('\n');
      for (const line of lines) {
        if (this.gen !== gen) return; // a frame gave the socket up
        if (!line) continue;
        let f;
        try {
          f = JSON.parse(line);
        } catch {
          continue;
        }
        if (!this.ready) {
          if (f.type === 'ready') {
            clearTimeout(hs);
            this.becameReady(base, f);
          } else if (f.type === 'error') {
            authError = f.error || { code: 'internal' };
          }
          continue;
        }
        this.handle(f, base);
      }
    };
    ws.onclose = (ev) => {
      clearTimeout(hs);
      if (this.gen !== gen) return;
      this.closed(gen, base, opened, ev.code, ev.reason, authError);
    };
  }

  becameReady(base, f) {
    this.ready = true;
    this.attempt = 0;
    this.lastRead = Date.now();
    this.sites.use(base);
    const moved = this.sites.origin !== base;
    this.setStatus({ state: moved ? 'moved' : 'connected', site: base, from: moved ? this.sites.origin : '' });
    this.lastSite = base;
    this.user = f.user;
    this.send1({ type: 'sync', cursors: this.getCursors() });
    for (const e of this.entries) e.wire = 0;
    this.resyncAt = 0;
    this.on.connected && this.on.connected(base);
    this.schedule(0);
    this.sites.discover().then(() => {
      if (this.ready) this.setStatus({ ...this.status });
    }).catch(() => {});
  }

  send1(f) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(f));
  }

  async closed(gen, base, opened, code, reason, authError) {
    const wasReady = this.ready;
    this.ready = false;
    this.ws = null;
    clearTimeout(this.timer);
    for (const e of this.entries) e.wire = 0;
    if (this.stopped) return;
    if (authError && authError.code === 'unauthorized') {
      this.stopped = true;
      this.on.unauthorized && this.on.unauthorized();
      return;
    }
    let retryAfter = 0;
    let refused = false;
    let move = false;
    if (authError && retryable.has(authError.code)) {
      retryAfter = authError.retry_after_ms || 0;
      refused = refusal.has(authError.code);
      move = authError.code === 'cut_off';
    }
    if (code === 4503 || code === 1001 || reason === 'cut_off') move = true;
    // A site that left the page waiting in silence is tried last, as the
    // Go SDK does: the next site is likelier to answer.
    if (['ack timeout', 'read timeout', 'handshake timeout'].includes(reason)) move = true;
    if (code === 1013) refused = true;
    if (!opened) {
      // The upgrade failed: a dead site, or a refusal the browser does not
      // show. Ask the site over HTTP which it is (readable on its own
      // origin; elsewhere a failure means dead or refusing: move on).
      const probe = await this.probe(base);
      if (this.gen !== gen || this.stopped) return;
      if (probe && refusal.has(probe.code)) {
        refused = true;
        retryAfter = probe.retryAfterMs;
      } else if (probe && probe.code === 'unavailable') {
        retryAfter = probe.retryAfterMs;
        move = true;
      } else {
        move = true;
      }
    } else if (!wasReady && !authError) {
      move = true;
    }
    if (move) this.sites.advance(base);
    const n = wasReady ? 0 : ++this.attempt;
    let d = this.backoff(n, retryAfter);
    if (wasReady && !refused && !move) d = Math.min(d, 300);
    const until = Date.now() + d;
    if (!navigator.onLine) this.setStatus({ state: 'offline', until });
    else if (refused) this.setStatus({ state: 'refused', until, site: base });
    else this.setStatus({ state: 'reconnecting', until, site: this.sites.current(), from: base });
    this.reconnectTimer = setTimeout(() => this.connect(), d);
  }

  // probe asks base why it refused a WebSocket: an ApiError, or null if it
  // could not tell (no answer, or one the page may not read).
  async probe(base) {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), 3000);
    try {
      const res = await fetch(base + '/v1/ws', { cache: 'no-store', credentials: 'omit', signal: ctl.signal });
      if (res.ok) return null;
      return await errorOf(res);
    } catch {
      return null;
    } finally {
      clearTimeout(t);
    }
  }

  // backoff: uniformly random between MIN and min(MAX, MIN·2ⁿ), but at
  // least retryAfter plus jitter when the server asked for it.
  backoff(n, retryAfter) {
    const ceil = Math.min(MAX_BACKOFF, MIN_BACKOFF * 2 ** Math.min(n, 20));
    let d = MIN_BACKOFF + Math.random() * (ceil - MIN_BACKOFF);
    if (retryAfter > d) d = jitter(retryAfter);
    return d;
  }

  // kickReconnect reconnects now if waiting (the network came back).
  kickReconnect() {
    if (this.stopped || this.ready) return;
    if (this.ws && this.ws.readyState === WebSocket.CONNECTING) return;
    this.attempt = 0;
    this.connect();
  }

  // reconnect drops the connection (e.g. an ack timed out) and reconnects,
  // without waiting for the browser to report the close (see giveUp).
  reconnect(reason) {
    if (this.ws && this.giveUp) this.giveUp(reason || 'reconnect');
  }

  handle(f, base) {
    const on = this.on;
    switch (f.type) {
      case 'event':
        if (f.event && f.event.room && f.event.seq) on.event && on.event(f.event);
        break;
      case 'room':
        if (f.room && f.room.id) on.room && on.room(f.room);
        break;
      case 'left':
        on.left && on.left(f.room_id || (f.room && f.room.id));
        break;
      case 'receipt':
        if (f.receipt) on.receipt && on.receipt(f.receipt);
        break;
      case 'typing':
        on.typing && on.typing(f.room_id, f.user);
        break;
      case 'synced':
        on.synced && on.synced();
        break;
      case 'ack':
        this.handleAck(f);
        break;
      case 'error':
        this.handleError(f, base);
        break;
      default:
    }
  }

  handleAck(f) {
    const id = f.id || (f.ack && f.ack.id);
    const i = this.entries.findIndex((e) => e.id === id);
    if (i < 0) return;
    const e = this.entries[i];
    this.entries.splice(i, 1);
    if (this.window > 0) {
      this.window *= 2;
      if (this.window > MAX_WINDOW) this.window = 0;
    }
    this.saveOutbox();
    this.on.ack && this.on.ack(e, f.ack);
    this.schedule(0);
  }

  handleError(f, base) {
    const err = f.error || { code: 'internal', message: 'error' };
    const now = Date.now();
    const delay = () => jitter(err.retry_after_ms || MIN_BACKOFF);
    if (f.id) {
      const e = this.entries.find((x) => x.id === f.id);
      if (!e) return;
      e.wire = 0;
      if (retryable.has(err.code)) {
        const at = now + delay();
        e.retryAt = at;
        if (refusal.has(err.code)) {
          // The node is busy (not one room): hold every send, then send
          // them a few at a time.
          this.holdUntil = Math.max(this.holdUntil, at);
          this.window = 1;
          this.setStatus({ ...this.status, busyUntil: this.holdUntil });
        }
        if (err.code === 'cut_off') this.reconnect('cut_off');
        this.schedule(at - now);
      } else {
        e.state = 'failed';
        e.error = err.message || err.code;
        this.saveOutbox();
      }
      return;
    }
    if (f.ref === 'sync') {
      if (retryable.has(err.code) && err.code !== 'cut_off') {
        const d = delay();
        this.resyncAt = now + d;
        this.setStatus({ ...this.status, busyUntil: this.resyncAt });
        this.schedule(d);
      } else {
        this.reconnect(err.code === 'cut_off' ? 'cut_off' : 'sync failed');
      }
      return;
    }
    if (f.ref === 'receipt' && f.room_id) {
      const sent = this.receiptsSent.get(f.room_id);
      if (sent && retryable.has(err.code)) {
        this.mergeReceipt(f.room_id, sent.d, sent.r);
        this.receiptsAt.set(f.room_id, now + delay());
        this.schedule(delay());
      }
      return;
    }
    if (f.ref === 'typing') return;
    if (err.code === 'unauthorized') {
      this.stopped = true;
      this.reconnect('unauthorized');
      this.on.unauthorized && this.on.unauthorized();
    } else if (err.code === 'slow_consumer' || err.code === 'cut_off') {
      this.reconnect(err.code);
    }
  }

  // enqueue adds a send, edit or delete to the outbox and writes it when it
  // can. entry: {id, type, room, text?, reply_to?, target?}.
  enqueue(entry) {
    if (this.entries.some((e) => e.id === entry.id)) return;
    this.entries.push({ ...entry, created: Date.now(), state: 'pending', wire: 0, retryAt: 0 });
    this.saveOutbox();
    this.schedule(0);
  }

  // retry sends a failed entry again, with the same id.
  retry(id) {
    const e = this.entries.find((x) => x.id === id);
    if (!e) return;
    e.state = 'pending';
    e.error = '';
    e.retryAt = 0;
    e.wire = 0;
    this.saveOutbox();
    this.schedule(0);
  }

  discard(id) {
    this.entries = this.entries.filter((x) => x.id !== id);
    this.saveOutbox();
  }

  mergeReceipt(room, d, r) {
    const m = this.receipts.get(room) || { d: 0, r: 0 };
    this.receipts.set(room, { d: Math.max(m.d, d || 0, r || 0), r: Math.max(m.r, r || 0) });
  }

  receipt(room, delivered, read) {
    if (!room || (!delivered && !read)) return;
    this.mergeReceipt(room, delivered, read);
    this.schedule(0);
  }

  typing(room) {
    if (this.ready) this.send1({ type: 'typing', room });
  }

  schedule(ms) {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, ms));
  }

  // flush writes what is due: a sync refused earlier, outbox entries (within
  // the hold and the window), receipts; a ping when idle; and checks that
  // nothing written waits too long for its answer.
  flush() {
    if (!this.ready || !this.ws) return;
    const now = Date.now();
    let next = now + 1000;
    const frames = []; // JSON strings
    let failed = false;
    if (this.resyncAt) {
      if (this.resyncAt <= now) {
        this.resyncAt = 0;
        frames.push(JSON.stringify({ type: 'sync', cursors: this.getCursors() }));
      } else next = Math.min(next, this.resyncAt);
    }
    if (this.holdUntil > now) {
      next = Math.min(next, this.holdUntil);
    } else {
      if (this.holdUntil) {
        this.holdUntil = 0;
        this.setStatus({ ...this.status, busyUntil: 0 });
      }
      let onWire = this.entries.filter((e) => e.wire === this.gen).length;
      // A room's messages go in the order typed: one still waiting out its
      // retry holds back the later ones of its room (a storage failure
      // refuses a room's queued sends at once, each retried with its own
      // jitter), while other rooms carry on.
      const held = new Set();
      for (const e of this.entries) {
        if (e.state === 'failed' || e.wire === this.gen) continue;
        if (e.retryAt > now) {
          next = Math.min(next, e.retryAt);
          held.add(e.room);
          continue;
        }
        if (held.has(e.room)) continue;
        if (this.window > 0 && onWire >= this.window) break;
        const f = { type: e.type || 'send', id: e.id, room: e.room };
        if (e.text !== undefined && e.type !== 'delete') f.text = e.text;
        if (e.reply_to) f.reply_to = e.reply_to;
        if (e.target) f.target = e.target;
        const s = JSON.stringify(f);
        if (utf8Len(s) > MAX_FRAME_BYTES) {
          // E.g. 16 KiB of control characters, each escaped in six bytes.
          e.state = 'failed';
          e.error = 'This message is too long to send.';
          failed = true;
          continue;
        }
        e.retryAt = 0;
        e.wire = this.gen;
        e.sentAt = now;
        onWire++;
        frames.push(s);
      }
    }
    for (const [room, m] of this.receipts) {
      const at = this.receiptsAt.get(room) || 0;
      if (at > now) {
        next = Math.min(next, at);
        continue;
      }
      this.receiptsAt.delete(room);
      const f = { type: 'receipt', room };
      if (m.d) f.delivered = m.d;
      if (m.r) f.read = m.r;
      frames.push(JSON.stringify(f));
      const s = this.receiptsSent.get(room) || { d: 0, r: 0 };
      this.receiptsSent.set(room, { d: Math.max(s.d, m.d), r: Math.max(s.r, m.r) });
      this.receipts.delete(room);
    }
    if (frames.length === 0 && now - (this.lastPing || 0) > PING_EVERY) {
      frames.push(JSON.stringify({ type: 'ping' }));
    }
    if (frames.length) this.lastPing = now;
    this.writeBatch(frames);
    if (failed) this.saveOutbox();
    // Broken connections show as silence: no answer to a send, nothing
    // read for a while (pings are answered).
    const overdue = this.entries.some((e) => e.wire === this.gen && now - e.sentAt > this.ackTimeout);
    if (overdue || now - this.lastRead > READ_TIMEOUT) {
      this.reconnect(overdue ? 'ack timeout' : 'read timeout');
      return;
    }
    this.schedule(next - now);
  }

  // writeBatch writes frames (JSON strings), several to a message, each
  // message at most BATCH_BYTES of UTF-8 unless one frame alone is larger.
  writeBatch(frames) {
    let buf = '';
    let size = 0;
    for (const s of frames) {
      const n = utf8Len(s);
      if (buf && size + 1 + n > BATCH_BYTES) {
        this.ws.send(buf);
        buf = '';
        size = 0;
      }
      buf = buf ? buf + '\n' + s : s;
      size += (size ? 1 : 0) + n;
    }
    if (buf) this.ws.send(buf);
  }
}
