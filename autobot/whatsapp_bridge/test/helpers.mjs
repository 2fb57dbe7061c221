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

import { computeMac } from '../lib/handshake.mjs';
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

/** A session that records what it is asked to send; `failNext` makes the next send throw. */
export class StubSession extends EventEmitter {
  connected = true;
  sentTexts = [];
  sentMedia = [];
  failNext = null;
  started = false;
  closed = false;
  #status = { state: 'open', detail: 'stub session' };
  #counter = 0;

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
 * A bridge (service + server, stub session) on a Unix socket in a fresh temp directory, or
 * on `options.listen` (with `options.tls`). `now` feeds the failed-handshake limiter;
 * `stateDir` lets two bridges share pending files.
 */
export async function startTestBridge(t, options = {}) {
  const dir = options.dir ?? (await tempDir(t));
  const key = options.key ?? randomBytes(32);
  const logs = [];
  const log = (level, text) => logs.push(`${level}: ${text}`);
  const session = options.session ?? new StubSession();
  const pending = await PendingStore.open(options.stateDir ?? join(dir, 'state'), { log, limit: options.limit });
  const workspace = options.workspace ?? dir;
  const service = new BridgeService({
    session,
    pending,
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
  const bridge = { dir, key, session, pending, service, server, socketPath, base, logs, clock, workspace };
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
    version: 1,
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
