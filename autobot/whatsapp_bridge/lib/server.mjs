/**
 * The bridge's listening side: the HTTP server, the WebSocket upgrade and the handshake.
 *
 * `startServer` owns the listening socket (a Unix socket created 0600 in a directory only
 * this account can write, loopback TCP, or TLS), every connection, and the one
 * authenticated client:
 * - an upgrade carrying an `Origin` header (every browser sends one) gets HTTP 403 before
 *   any WebSocket exists; while the failed-handshake limiter blocks, or when MAX_HANDSHAKES
 *   handshakes are already in progress, HTTP 429; a plain HTTP request gets 426;
 * - frames are capped at MAX_FRAME_BYTES (bigger: close 1009, by `ws`); binary frames close
 *   with 1003; compression is off;
 * - the handshake: a fresh 32-byte nonce in a `challenge`, then the client's `auth` within
 *   `authTimeoutMs` (5 s) or close 4002; a non-auth frame 4003, a wrong version 4004, a
 *   wrong or malformed answer 4001; every connection that ends before a correct answer
 *   counts as one failure for the limiter;
 * - a newly authenticated client replaces the old one (closed with 4009 "replaced"); its
 *   frames go to the BridgeService.
 * Returns `{ address, close() }`; `close` ends every connection and the listener.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { chmod, lstat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

import { WebSocket, WebSocketServer } from 'ws';

import { checkSocketDir } from './dirs.mjs';
import { ConfigError } from './errors.mjs';
import { encodeFrame, MAX_FRAME_BYTES } from './frames.mjs';
import { AUTH_TIMEOUT_MS, CLOSE, NONCE_BYTES, challengeFrame, verifyAuth, welcomeFrame } from './handshake.mjs';

export const MAX_HANDSHAKES = 8; // handshakes in progress at once; each lasts at most 5 s
export const CLOSE_GRACE_MS = 2000; // how long `close` waits for clients to answer a close frame
const HTTP_HEADERS_TIMEOUT_MS = 10_000;
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * Listen as `listen` says (args.mjs) and serve. `tls` is `{ cert, key }` (PEM contents) for
 * wss://, else null; `key` the 32-byte HMAC key; `service` a BridgeService; `limiter` a
 * FailedHandshakeLimiter; `log(level, text)`. `randomBytes` and `authTimeoutMs` are injectable
 * for tests. Raises ConfigError for a refused socket directory or a foreign file at the
 * socket path; listen errors (address in use...) propagate.
 */
export async function startServer({
  listen,
  tls,
  key,
  service,
  limiter,
  log,
  now = Date.now,
  authTimeoutMs = AUTH_TIMEOUT_MS,
  randomBytes = cryptoRandomBytes,
}) {
  const server = listen.kind === 'wss' ? createHttpsServer({ cert: tls.cert, key: tls.key }) : createHttpServer();
  server.headersTimeout = HTTP_HEADERS_TIMEOUT_MS;
  server.requestTimeout = HTTP_HEADERS_TIMEOUT_MS;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
    clientTracking: false,
  });
  const sockets = new Set(); // every open WebSocket, for close()
  let handshakes = 0;
  let current = null; // the authenticated client
  const refusals = { count: 0, loggedAt: -Infinity };

  const refuseUpgrade = (socket, status, text) => {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };
  const noteRefusal = (what) => {
    refusals.count += 1;
    if (now() - refusals.loggedAt >= REFUSAL_LOG_INTERVAL_MS) {
      log('warn', `refused ${refusals.count} connection(s) since the last report; latest: ${what}`);
      refusals.count = 0;
      refusals.loggedAt = now();
    }
  };

  server.on('request', (request, response) => {
    response.writeHead(426, { Connection: 'close', Upgrade: 'websocket', 'Content-Length': '0' });
    response.end();
  });
  server.on('upgrade', (request, socket, head) => {
    socket.on('error', () => {});
    if (request.headers.origin !== undefined || request.headers['sec-websocket-origin'] !== undefined) {
      noteRefusal('an Origin header (browser)');
      refuseUpgrade(socket, 403, 'Forbidden');
      return;
    }
    if (limiter.blocked()) {
      noteRefusal('too many failed handshakes');
      refuseUpgrade(socket, 429, 'Too Many Requests');
      return;
    }
    if (handshakes >= MAX_HANDSHAKES) {
      noteRefusal(`more than ${MAX_HANDSHAKES} handshakes in progress`);
      refuseUpgrade(socket, 429, 'Too Many Requests');
      return;
    }
    handshakes += 1; // until the handshake is settled, or the upgrade itself fails
    let served = false;
    socket.once('close', () => {
      // An upgrade `ws` refuses (no Sec-WebSocket-Key...) never reaches the callback.
      if (!served) handshakes -= 1;
    });
    wss.handleUpgrade(request, socket, head, (ws) => {
      served = true;
      serve(ws, request.url);
    });
  });

  const serve = (ws, resource) => {
    sockets.add(ws);
    const nonce = randomBytes(NONCE_BYTES).toString('hex');
    let settled = false;
    const settle = () => {
      settled = true;
      handshakes -= 1;
      clearTimeout(timer);
    };
    const fail = (code, reason) => {
      if (settled) return;
      settle();
      limiter.recordFailure();
      log('warn', `handshake failed: ${reason} (close ${code})`);
      ws.close(code, reason);
    };
    const timer = setTimeout(() => fail(CLOSE.AUTH_TIMEOUT, 'auth timeout'), authTimeoutMs);

    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        if (!settled) fail(1003, 'binary frames are not accepted');
        else ws.close(1003, 'binary frames are not accepted');
        return;
      }
      const text = data.toString('utf8');
      if (!settled) {
        let frame;
        try {
          frame = JSON.parse(text);
        } catch {
          frame = undefined;
        }
        const verdict = verifyAuth(frame, { key, nonce, resource });
        if (!verdict.ok) {
          fail(verdict.code, verdict.reason);
          return;
        }
        settle();
        ws.send(encodeFrame(welcomeFrame(key, nonce, verdict.clientNonce, resource)));
        promote(ws);
        return;
      }
      if (current?.ws === ws) {
        service.handle(current, text).catch((error) => log('error', `request failed: ${error.message}`));
      }
    });
    ws.on('error', (error) => {
      log('warn', `connection error: ${error.message}`);
    });
    ws.on('close', () => {
      sockets.delete(ws);
      if (!settled) {
        settle();
        limiter.recordFailure();
        log('warn', 'handshake failed: the connection ended before a correct answer');
      }
      if (current?.ws === ws) {
        service.detach(current);
        current = null;
      }
    });
    ws.send(encodeFrame(challengeFrame(nonce)));
  };

  const promote = (ws) => {
    if (current !== null) {
      const old = current;
      service.detach(old);
      old.ws.close(CLOSE.REPLACED, 'replaced');
      log('info', 'a newly authenticated client replaces the previous one');
    }
    current = clientOf(ws, log);
    service.attach(current);
  };

  await listenOn(server, listen);
  return {
    address: server.address(),
    async close() {
      await closeAll(sockets);
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function clientOf(ws, log) {
  return {
    ws,
    send(frame) {
      if (ws.readyState !== WebSocket.OPEN) {
        return;
      }
      let text;
      try {
        text = encodeFrame(frame);
      } catch (error) {
        log('error', `frame not sent: ${error.message}`);
        return;
      }
      ws.send(text);
    },
  };
}

async function listenOn(server, listen) {
  if (listen.kind === 'unix') {
    await checkSocketDir(dirname(listen.path));
    await removeStaleSocket(listen.path);
  }
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if (listen.kind === 'unix') server.listen(listen.path, done);
    else server.listen(listen.port, listen.host, done);
  });
  if (listen.kind === 'unix') {
    await chmod(listen.path, 0o600);
  }
}

/** Remove a socket file a dead bridge left at `path`; refuse anything else found there. */
async function removeStaleSocket(path) {
  let stat;
  try {
    stat = await lstat(path);
  } catch (error) {
    if (error.code === 'ENOENT') return;
    throw error;
  }
  if (!stat.isSocket()) {
    throw new ConfigError(`${path} exists and is not a socket: refused (remove it or choose another --listen path)`);
  }
  const alive = await new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) {
    throw new Error(`another process is listening on ${path} (a bridge already running?)`);
  }
  await unlink(path);
}

async function closeAll(sockets) {
  const closed = [...sockets].map(
    (ws) =>
      new Promise((resolve) => {
        ws.once('close', resolve);
        ws.close(1001, 'bridge stopping');
      }),
  );
  let timer;
  const grace = new Promise((resolve) => {
    timer = setTimeout(resolve, CLOSE_GRACE_MS);
  });
  await Promise.race([Promise.all(closed), grace]);
  clearTimeout(timer);
  for (const ws of sockets) ws.terminate();
}
