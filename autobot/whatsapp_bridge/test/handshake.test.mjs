import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CLOSE, PROTOCOL_VERSION, computeMac, macMatches, verifyAuth, welcomeFrame } from '../lib/handshake.mjs';

// The known-answer vector of the protocol (/tmp/prompts/whatsapp_protocol.md, "Test vector"),
// computed once with Python's hmac: both sides must produce exactly these bytes.
const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const NONCE = '11'.repeat(32);
const CLIENT_NONCE = '22'.repeat(32);
const CLIENT_MAC = '757003159de1165cd39f54e35cc741ad7cb18c4a74f819197d8b5e32bb80c934';
const BRIDGE_MAC = '302b5322e2db607b87e99e6b9a99e7f998ddf2a03b143b4fa2e0499a5ee4bddc';

test('the MACs match the cross-language known-answer vector', () => {
  assert.equal(computeMac(KEY, 'client', NONCE, CLIENT_NONCE, '/'), CLIENT_MAC);
  assert.equal(computeMac(KEY, 'bridge', NONCE, CLIENT_NONCE, '/'), BRIDGE_MAC);
  assert.deepEqual(welcomeFrame(KEY, NONCE, CLIENT_NONCE, '/'), { type: 'welcome', version: 2, mac: BRIDGE_MAC });
});

test('the MAC binds the role, both nonces and the resource', () => {
  const macs = new Set([
    computeMac(KEY, 'client', NONCE, CLIENT_NONCE, '/'),
    computeMac(KEY, 'bridge', NONCE, CLIENT_NONCE, '/'),
    computeMac(KEY, 'client', CLIENT_NONCE, NONCE, '/'),
    computeMac(KEY, 'client', NONCE, CLIENT_NONCE, '/other'),
    computeMac(Buffer.alloc(32), 'client', NONCE, CLIENT_NONCE, '/'),
  ]);
  assert.equal(macs.size, 5);
});

test('a key of the wrong size or an unknown role is a programming error', () => {
  assert.throws(() => computeMac(Buffer.alloc(16), 'client', NONCE, CLIENT_NONCE, '/'), TypeError);
  assert.throws(() => computeMac('0'.repeat(64), 'client', NONCE, CLIENT_NONCE, '/'), TypeError);
  assert.throws(() => computeMac(KEY, 'server', NONCE, CLIENT_NONCE, '/'), TypeError);
});

test('macMatches refuses anything but 64 lowercase hex before comparing', () => {
  assert.equal(macMatches(CLIENT_MAC, CLIENT_MAC), true);
  assert.equal(macMatches(CLIENT_MAC, BRIDGE_MAC), false);
  assert.equal(macMatches(CLIENT_MAC, CLIENT_MAC.toUpperCase()), false);
  assert.equal(macMatches(CLIENT_MAC, CLIENT_MAC.slice(0, 62)), false);
  assert.equal(macMatches(CLIENT_MAC, `${CLIENT_MAC}00`), false);
  assert.equal(macMatches(CLIENT_MAC, `${CLIENT_MAC.slice(0, 63)}g`), false);
  assert.equal(macMatches(CLIENT_MAC, 42), false);
});

const context = { key: KEY, nonce: NONCE, resource: '/' };
const good = { type: 'auth', version: PROTOCOL_VERSION, client_nonce: CLIENT_NONCE, mac: CLIENT_MAC };

test('a correct auth frame is accepted', () => {
  assert.deepEqual(verifyAuth(good, context), { ok: true, clientNonce: CLIENT_NONCE });
});

test('each refusal has its own close code', () => {
  const cases = [
    [undefined, CLOSE.PROTOCOL_ERROR],
    [null, CLOSE.PROTOCOL_ERROR],
    [[good], CLOSE.PROTOCOL_ERROR],
    [{ type: 'send', request_id: '1', to: 'x', text: 'hi' }, CLOSE.PROTOCOL_ERROR],
    [{ ...good, version: 1 }, CLOSE.UNSUPPORTED_VERSION], // a version 1 client (media paths in messages)
    [{ ...good, version: 3 }, CLOSE.UNSUPPORTED_VERSION],
    [{ ...good, version: '2' }, CLOSE.UNSUPPORTED_VERSION],
    [{ type: 'auth', client_nonce: CLIENT_NONCE, mac: CLIENT_MAC }, CLOSE.UNSUPPORTED_VERSION],
    [{ ...good, mac: BRIDGE_MAC }, CLOSE.AUTH_FAILED],
    [{ ...good, mac: CLIENT_MAC.toUpperCase() }, CLOSE.AUTH_FAILED],
    [{ ...good, mac: CLIENT_MAC.slice(2) }, CLOSE.AUTH_FAILED],
    [{ ...good, mac: 7 }, CLOSE.AUTH_FAILED],
    [{ ...good, client_nonce: 'zz'.repeat(32) }, CLOSE.AUTH_FAILED],
    [{ ...good, client_nonce: '33'.repeat(32) }, CLOSE.AUTH_FAILED],
    [{ type: 'auth', version: PROTOCOL_VERSION, mac: CLIENT_MAC }, CLOSE.AUTH_FAILED],
    [{ ...good, extra: true }, CLOSE.AUTH_FAILED],
  ];
  for (const [frame, code] of cases) {
    const verdict = verifyAuth(frame, context);
    assert.equal(verdict.ok, false, JSON.stringify(frame));
    assert.equal(verdict.code, code, JSON.stringify(frame));
  }
});

test('an answer computed for another nonce or resource fails', () => {
  assert.equal(verifyAuth(good, { ...context, nonce: '33'.repeat(32) }).code, CLOSE.AUTH_FAILED);
  assert.equal(verifyAuth(good, { ...context, resource: '/x' }).code, CLOSE.AUTH_FAILED);
});
