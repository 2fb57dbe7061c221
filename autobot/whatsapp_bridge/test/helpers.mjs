/**
 * Test helpers: a stub WhatsApp session (no Baileys), a bridge served on a Unix socket in a
 * private temp directory, and a WebSocket client that records frames and the close.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { WebSocket } from 'ws';

import { PROTOCOL_VERSION, computeMac } from '../lib/handshake.mjs';
import { saveToInbox } from '../lib/inbox.mjs';
import { OutcomeLog } from '../lib/outcomes.mjs';
import { PendingStore } from '../lib/pending.mjs';
import { FailedHandshakeLimiter } from '../lib/ratelimit.mjs';
import { startServer } from '../lib/server.mjs';
import { BridgeService } from '../lib/service.mjs';
import { NotConnected } from '../lib/session.mjs';

/** A private temp directory, removed by `t.after`. */
export async function tempDir(t, prefix = 'wa-bridge-') {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 5 }));
  return dir;
}

/**
 * A session that records what it is asked to send and to download; `failNext` makes the next
 * send throw, `failFetch` every fetch. Its media sources are `mediaMessage`'s: a fetch saves
 * the content they carry into the inbox of `workspace` (the real inbox code, real names).
 */
export class StubSession extends EventEmitter {
  connected = true;
  sentTexts = [];
  sentMedia = [];
  downloads = []; // every fetchMedia call: { id, chat, source }
  failNext = null;
  failFetch = null;
  started = false;
  closed = false;
  #status = { state: 'open', detail: 'stub session' };
  #counter = 0;
  #workspace;

  constructor({ workspace = null } = {}) {
    super();
    this.#workspace = workspace;
  }

  status() {
    return this.#status;
  }

  setStatus(status) {
    this.#status = status;
    this.emit('status', status);
  }

  start() {
    this.started = true;
  }

  async close() {
    this.closed = true;
  }

  async sendText(request) {
    this.#check();
    this.sentTexts.push(request);
    return `SENT${++this.#counter}`;
  }

  async sendMedia(request) {
    this.#check();
    this.sentMedia.push(request);
    return `SENT${++this.#counter}`;
  }

  async fetchMedia({ id, chat, source }) {
    this.downloads.push({ id, chat, source });
    if (this.failFetch !== null) throw this.failFetch;
    const { kind, content } = JSON.parse(source);
    const saved = await saveToInbox({
      workspace: this.#workspace,
      name: { chat, messageId: id, kind, extension: 'bin' },
      source: [Buffer.from(content)],
      maxBytes: 1 << 20,
    });
    return [{ kind, path: saved.path, mime_type: 'application/octet-stream', size: saved.size }];
  }

  #check() {
    if (!this.connected) throw new NotConnected();
    if (this.failNext !== null) {
      const error = this.failNext;
      this.failNext = null;
      throw error;
    }
  }
}

/** A message frame as the session emits it. */
export function messageFrame(id, text = `text of ${id}`) {
  return {
    type: 'message',
    id,
    chat: '15551234567@s.whatsapp.net',
    sender: '15551234567@s.whatsapp.net',
    phone: '+15551234567',
    push_name: 'Alice',
    text,
    timestamp: 1767225600,
    is_group: false,
    mentioned: false,
    reply_to_bot: false,
    reply_to: null,
    media: [],
  };
}

/**
 * A message with one media, as the session emits it: `[frame, source]`, the frame listing the
 * media (nothing downloaded) and the source StubSession.fetchMedia saves `content` from.
 */
export function mediaMessage(id, { kind = 'photo', content = `${kind} of ${id}` } = {}) {
  const frame = { ...messageFrame(id, ''), media: [{ kind, mime_type: 'image/jpeg', size: content.length }] };
  return [frame, JSON.stringify({ kind, content })];
}

/**
 * A bridge (service + server, stub session) on a Unix socket in a fresh temp directory, or
 * on `options.listen` (with `options.tls`). `now` feeds the failed-handshake limiter;
 * `stateDir` lets two bridges share pending messages and recorded outcomes.
 */
export async function startTestBridge(t, options = {}) {
  const dir = options.dir ?? (await tempDir(t));
  const key = options.key ?? randomBytes(32);
  const logs = [];
  const log = (level, text) => logs.push(`${level}: ${text}`);
  const workspace = options.workspace ?? dir;
  const session = options.session ?? new StubSession({ workspace });
  const stateDir = options.stateDir ?? join(dir, 'state');
  const pending = await PendingStore.open(stateDir, { log, limit: options.limit });
  const outcomes = await OutcomeLog.open(stateDir, { log, limit: options.outcomeLimit });
  const service = new BridgeService({
    session,
    pending,
    outcomes,
    workspace,
    maxFileBytes: options.maxFileBytes ?? 1024 * 1024,
    log,
  });
  const clock = { now: 0 };
  const now = options.now ?? (() => clock.now);
  const limiter = new FailedHandshakeLimiter({ now });
  const socketPath = join(dir, 'bridge.sock');
  const listen = options.listen ?? { kind: 'unix', path: socketPath };
  const server = await startServer({
    listen,
    tls: options.tls ?? null,
    key,
    service,
    limiter,
    log,
    now,
    authTimeoutMs: options.authTimeoutMs,
  });
  const scheme = listen.kind === 'wss' ? 'wss' : 'ws';
  const base = listen.kind === 'unix' ? `ws+unix:${socketPath}:` : `${scheme}://${listen.host}:${server.address.port}`;
  const bridge = { dir, key, session, pending, outcomes, service, server, socketPath, base, logs, clock, workspace };
  let closed = false;
  bridge.close = async () => {
    if (closed) return;
    closed = true;
    await server.close();
    await service.settled();
  };
  t.after(bridge.close);
  return bridge;
}

/**
 * A WebSocket client of `bridge` on `path`: `next()` resolves to the next frame (parsed),
 * `closed` to `{ code, reason }` (1006 for a refused upgrade), `response` to the HTTP status
 * of a refused upgrade.
 */
export function connect(bridge, { path = '/', headers = {}, ca } = {}) {
  const base = bridge.base ?? `ws+unix:${bridge.socketPath}:`;
  const ws = new WebSocket(`${base}${path}`, { headers, maxPayload: 1 << 22, ca });
  const frames = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const frame = isBinary ? { binary: data } : JSON.parse(data.toString('utf8'));
    const waiter = waiters.shift();
    if (waiter) waiter(frame);
    else frames.push(frame);
  });
  const closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }));
  });
  const response = new Promise((resolve) => {
    ws.on('unexpected-response', (request, res) => {
      resolve(res.statusCode);
      res.resume();
      request.destroy();
    });
  });
  ws.on('error', () => {});
  return {
    ws,
    closed,
    response,
    next: () => (frames.length > 0 ? Promise.resolve(frames.shift()) : new Promise((resolve) => waiters.push(resolve))),
    pendingFrames: () => frames.length,
    send: (value) => ws.send(typeof value === 'string' ? value : JSON.stringify(value)),
  };
}

/** The client's answer to `challenge` for `key` (and the client nonce used). */
export function answer(key, challenge, { resource = '/', clientNonce = randomBytes(32).toString('hex') } = {}) {
  return {
    type: 'auth',
    version: PROTOCOL_VERSION,
    client_nonce: clientNonce,
    mac: computeMac(key, 'client', challenge.nonce, clientNonce, resource),
  };
}

/**
 * Connect and authenticate; resolves to `{ client, welcome, status, clientNonce, challenge }`.
 * `bridge` needs `key` and `base` (or `socketPath`).
 */
export async function authenticated(bridge, options = {}) {
  const client = connect(bridge, options);
  const challenge = await client.next();
  const auth = answer(bridge.key, challenge, options);
  client.send(auth);
  const welcome = await client.next();
  const status = await client.next();
  return { client, challenge, welcome, status, clientNonce: auth.client_nonce };
}

/** Wait until `predicate()` is true, polling the event loop (bounded). */
export async function until(predicate, what = 'condition') {
  for (let i = 0; i < 1000; i += 1) {
    if (await predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}
