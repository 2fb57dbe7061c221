import assert from 'node:assert/strict';
import { request } from 'node:http';
import { stat } from 'node:fs/promises';
import { mock, test } from 'node:test';

import { CLOSE, computeMac } from '../lib/handshake.mjs';
import { MAX_FRAME_BYTES } from '../lib/frames.mjs';
import { MAX_HANDSHAKES } from '../lib/server.mjs';
import { answer, authenticated, connect, startTestBridge, until } from './helpers.mjs';

test('a correct answer gets a welcome with a correct bridge mac, then the status', async (t) => {
  const bridge = await startTestBridge(t);
  const client = connect(bridge);
  const challenge = await client.next();
  assert.equal(challenge.type, 'challenge');
  assert.equal(challenge.version, 2);
  assert.match(challenge.nonce, /^[0-9a-f]{64}$/);
  const auth = answer(bridge.key, challenge);
  client.send(auth);
  const welcome = await client.next();
  assert.deepEqual(welcome, {
    type: 'welcome',
    version: 2,
    mac: computeMac(bridge.key, 'bridge', challenge.nonce, auth.client_nonce, '/'),
  });
  assert.deepEqual(await client.next(), { type: 'status', state: 'open', detail: 'stub session' });
  client.ws.close();
});

test('the resource is the request path the client opened', async (t) => {
  const bridge = await startTestBridge(t);
  const { welcome, challenge, clientNonce } = await authenticated(bridge, { path: '/bridge', resource: '/bridge' });
  assert.equal(welcome.mac, computeMac(bridge.key, 'bridge', challenge.nonce, clientNonce, '/bridge'));
  const client = connect(bridge, { path: '/bridge' });
  client.send(answer(bridge.key, await client.next(), { resource: '/' }));
  assert.equal((await client.closed).code, CLOSE.AUTH_FAILED);
});

test('nonces are fresh per connection', async (t) => {
  const bridge = await startTestBridge(t);
  const nonces = new Set();
  for (let i = 0; i < 3; i += 1) {
    const client = connect(bridge);
    nonces.add((await client.next()).nonce);
    client.ws.close();
  }
  assert.equal(nonces.size, 3);
});

test('a wrong mac closes with 4001 "auth failed" and nothing else is sent', async (t) => {
  const bridge = await startTestBridge(t);
  const client = connect(bridge);
  const challenge = await client.next();
  const wrongKey = Buffer.alloc(32, 7);
  client.send(answer(wrongKey, challenge));
  assert.deepEqual(await client.closed, { code: CLOSE.AUTH_FAILED, reason: 'auth failed' });
  assert.equal(client.pendingFrames(), 0);
  assert.ok(bridge.logs.some((line) => line.includes('handshake failed: auth failed')));
});

test('a malformed auth frame closes with 4001', async (t) => {
  const bridge = await startTestBridge(t);
  const client = connect(bridge);
  await client.next();
  client.send({ type: 'auth', version: 2, client_nonce: 'nope', mac: 'nope' });
  assert.equal((await client.closed).code, CLOSE.AUTH_FAILED);
});

test('no answer closes with 4002 after exactly 5 s (mocked clock)', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const bridge = await startTestBridge(t);
  const client = connect(bridge);
  await client.next(); // the challenge: the 5 s run from the upgrade
  let closed = null;
  client.closed.then((value) => {
    closed = value;
  });
  mock.timers.tick(4999);
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(closed, null, 'still open at 4.999 s');
  mock.timers.tick(1);
  assert.deepEqual(await client.closed, { code: CLOSE.AUTH_TIMEOUT, reason: 'auth timeout' });
});

test('any frame other than auth first closes with 4003', async (t) => {
  const bridge = await startTestBridge(t);
  for (const first of [
    { type: 'send', request_id: '1', to: '15551234567@s.whatsapp.net', text: 'hi' },
    { type: 'ack', id: 'X' },
    'not json',
    '[1,2]',
  ]) {
    const client = connect(bridge);
    await client.next();
    client.send(first);
    assert.deepEqual(await client.closed, { code: CLOSE.PROTOCOL_ERROR, reason: 'protocol error' });
  }
  assert.equal(bridge.session.sentTexts.length, 0);
});

test('a client of another version (1: media paths in messages) closes with 4004', async (t) => {
  const bridge = await startTestBridge(t);
  const client = connect(bridge);
  const auth = answer(bridge.key, await client.next());
  client.send({ ...auth, version: 1 });
  assert.deepEqual(await client.closed, { code: CLOSE.UNSUPPORTED_VERSION, reason: 'unsupported version' });
});

test('a replayed answer fails on a new connection (4001): the nonce is fresh', async (t) => {
  const bridge = await startTestBridge(t);
  const first = connect(bridge);
  const auth = answer(bridge.key, await first.next());
  first.send(auth);
  assert.equal((await first.next()).type, 'welcome');
  first.ws.close();
  await first.closed;
  const second = connect(bridge);
  await second.next();
  second.send(auth); // recorded by an eavesdropper and replayed
  assert.equal((await second.closed).code, CLOSE.AUTH_FAILED);
});

test('an upgrade with an Origin header is refused with 403 before any WebSocket exists', async (t) => {
  const bridge = await startTestBridge(t);
  const client = connect(bridge, { headers: { Origin: 'http://localhost' } });
  assert.equal(await client.response, 403);
  const legacy = connect(bridge, { headers: { 'Sec-WebSocket-Origin': 'http://evil.example' } });
  assert.equal(await legacy.response, 403);
  // Not a failed handshake: a web page cannot lock the real client out this way.
  const ok = await authenticated(bridge);
  assert.equal(ok.welcome.type, 'welcome');
});

test('a frame over 256 KiB closes with 1009, before and after authentication', async (t) => {
  const bridge = await startTestBridge(t);
  const early = connect(bridge);
  await early.next();
  early.send('x'.repeat(MAX_FRAME_BYTES + 1));
  assert.equal((await early.closed).code, 1009);

  const { client } = await authenticated(bridge);
  // Exactly the cap is accepted (and answered: it is not a valid frame)...
  const envelope = JSON.stringify({ type: 'send', pad: '' }).length;
  const atCap = JSON.stringify({ type: 'send', pad: 'x'.repeat(MAX_FRAME_BYTES - envelope) });
  assert.equal(Buffer.byteLength(atCap), MAX_FRAME_BYTES);
  client.send(atCap);
  const error = await client.next();
  assert.equal(error.type, 'error');
  assert.equal(error.code, 'bad_request');
  // ...one byte more is not.
  client.send(`${atCap} `);
  assert.equal((await client.closed).code, 1009);
});

test('a binary frame closes with 1003, before and after authentication', async (t) => {
  const bridge = await startTestBridge(t);
  const early = connect(bridge);
  await early.next();
  early.ws.send(Buffer.from(JSON.stringify({ type: 'auth' })), { binary: true });
  assert.equal((await early.closed).code, 1003);
  const { client } = await authenticated(bridge);
  client.ws.send(Buffer.from('{}'), { binary: true });
  assert.equal((await client.closed).code, 1003);
});

test('5 failed handshakes within 60 s: new upgrades get 429 for 60 s', async (t) => {
  const bridge = await startTestBridge(t);
  for (let i = 0; i < 5; i += 1) {
    bridge.clock.now = i * 10_000; // 0 .. 40 s: all within the window
    const client = connect(bridge);
    await client.next();
    client.send({ type: 'auth', version: 2, client_nonce: '00'.repeat(32), mac: '00'.repeat(32) });
    assert.equal((await client.closed).code, CLOSE.AUTH_FAILED);
  }
  // Blocked even for the right key: the flood limit is global.
  bridge.clock.now = 40_000 + 59_999;
  assert.equal(await connect(bridge).response, 429);
  bridge.clock.now = 40_000 + 60_000;
  const { welcome } = await authenticated(bridge);
  assert.equal(welcome.type, 'welcome');
});

test('failures spread over more than 60 s do not block', async (t) => {
  const bridge = await startTestBridge(t);
  for (let i = 0; i < 8; i += 1) {
    bridge.clock.now = i * 15_001; // never 5 within 60 s
    const client = connect(bridge);
    await client.next();
    client.send('{}');
    assert.equal((await client.closed).code, CLOSE.PROTOCOL_ERROR);
  }
  assert.equal((await authenticated(bridge)).welcome.type, 'welcome');
});

test(`more than ${MAX_HANDSHAKES} handshakes in progress get 429`, async (t) => {
  const bridge = await startTestBridge(t);
  const waiting = [];
  for (let i = 0; i < MAX_HANDSHAKES; i += 1) {
    const client = connect(bridge);
    await client.next();
    waiting.push(client);
  }
  assert.equal(await connect(bridge).response, 429);
  waiting[0].send(answer(bridge.key, { nonce: '00'.repeat(32) })); // wrong: frees one slot
  await waiting[0].closed;
  const next = connect(bridge);
  assert.equal((await next.next()).type, 'challenge');
  for (const client of [...waiting, next]) client.ws.terminate();
});

test('a newly authenticated client replaces the old one (4009 "replaced")', async (t) => {
  const bridge = await startTestBridge(t);
  const first = await authenticated(bridge);
  const second = await authenticated(bridge);
  assert.deepEqual(await first.client.closed, { code: CLOSE.REPLACED, reason: 'replaced' });
  second.client.send({ type: 'send', request_id: 'r1', to: '15551234567@s.whatsapp.net', text: 'hello' });
  assert.deepEqual(await second.client.next(), { type: 'sent', request_id: 'r1', id: 'SENT1' });
});

test('after authentication: unknown type is an error frame and the connection stays', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  client.send({ type: 'subscribe' });
  assert.deepEqual(await client.next(), {
    type: 'error',
    request_id: null,
    code: 'unknown_type',
    message: 'unknown frame type "subscribe"',
  });
  client.send('not json');
  assert.equal((await client.next()).code, 'bad_request');
  client.send({ type: 'send', request_id: 'r2', to: '15551234567@s.whatsapp.net', text: 'still here' });
  assert.equal((await client.next()).type, 'sent');
});

test('a plain HTTP request gets 426', async (t) => {
  const bridge = await startTestBridge(t);
  const status = await new Promise((resolve, reject) => {
    const req = request({ socketPath: bridge.socketPath, path: '/' }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 426);
});

test('the Unix socket is created 0600 and removed on close', async (t) => {
  const bridge = await startTestBridge(t);
  const info = await stat(bridge.socketPath);
  assert.ok(info.isSocket());
  assert.equal(info.mode & 0o777, 0o600);
  await bridge.close();
  await assert.rejects(stat(bridge.socketPath), { code: 'ENOENT' });
});

test('a connection that ends before answering counts as a failure', async (t) => {
  const bridge = await startTestBridge(t);
  for (let i = 0; i < 5; i += 1) {
    const client = connect(bridge);
    await client.next();
    client.ws.terminate();
    await client.closed;
  }
  await until(() => bridge.logs.filter((line) => line.includes('ended before a correct answer')).length === 5);
  assert.equal(await connect(bridge).response, 429);
});
