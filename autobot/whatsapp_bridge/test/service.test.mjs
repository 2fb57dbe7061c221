import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MAX_IN_FLIGHT } from '../lib/service.mjs';
import { authenticated, startTestBridge } from './helpers.mjs';

const TO = '15551234567@s.whatsapp.net';

test('send: the text reaches the session and the client gets exactly one sent', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  client.send({ type: 'send', request_id: 'r1', to: TO, text: 'hello', reply_to: 'Q9' });
  assert.deepEqual(await client.next(), { type: 'sent', request_id: 'r1', id: 'SENT1' });
  assert.deepEqual(bridge.session.sentTexts, [{ to: TO, text: 'hello', replyTo: 'Q9' }]);
});

test('send while WhatsApp is not open: not_connected', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  bridge.session.connected = false;
  client.send({ type: 'send', request_id: 'r1', to: TO, text: 'hello' });
  client.send({ type: 'send_media', request_id: 'r2', to: TO, path: 'x.jpg', kind: 'photo' });
  assert.equal((await client.next()).code, 'not_connected');
  assert.deepEqual(await client.next(), {
    type: 'error',
    request_id: 'r2',
    code: 'not_connected',
    message: 'WhatsApp is not connected',
  });
});

test('a failing send: send_failed with the request id, and the next send works', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  bridge.session.failNext = new Error('upstream said no');
  client.send({ type: 'send', request_id: 'r1', to: TO, text: 'hello' });
  assert.deepEqual(await client.next(), {
    type: 'error',
    request_id: 'r1',
    code: 'send_failed',
    message: 'sending failed: upstream said no',
  });
  client.send({ type: 'send', request_id: 'r2', to: TO, text: 'again' });
  assert.equal((await client.next()).type, 'sent');
});

test('a bad send is a bad_request that sends nothing', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  client.send({ type: 'send', request_id: 'r1', to: '+15551234567', text: 'hello' });
  const error = await client.next();
  assert.equal(error.code, 'bad_request');
  assert.equal(error.request_id, 'r1');
  assert.equal(bridge.session.sentTexts.length, 0);
});

test(`more than ${MAX_IN_FLIGHT} requests in flight: busy`, async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  let release;
  const gate = new Promise((resolve) => {
    release = resolve;
  });
  const original = bridge.session.sendText.bind(bridge.session);
  bridge.session.sendText = async (request) => {
    await gate;
    return original(request);
  };
  for (let i = 0; i <= MAX_IN_FLIGHT; i += 1) {
    client.send({ type: 'send', request_id: `r${i}`, to: TO, text: 'hi' });
  }
  const busy = await client.next();
  assert.deepEqual(busy, {
    type: 'error',
    request_id: `r${MAX_IN_FLIGHT}`,
    code: 'busy',
    message: `more than ${MAX_IN_FLIGHT} requests in flight`,
  });
  release();
  const answered = new Set();
  for (let i = 0; i < MAX_IN_FLIGHT; i += 1) answered.add((await client.next()).request_id);
  assert.equal(answered.size, MAX_IN_FLIGHT);
  client.send({ type: 'send', request_id: 'after', to: TO, text: 'hi' });
  assert.equal((await client.next()).request_id, 'after');
});

test('status and qr events reach the client', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  bridge.session.setStatus({ state: 'qr', detail: 'scan the QR code' });
  bridge.session.emit('qr', { qr: '2@abc', png: '/bot/whatsapp-qr.png' });
  assert.deepEqual(await client.next(), { type: 'status', state: 'qr', detail: 'scan the QR code' });
  assert.deepEqual(await client.next(), { type: 'qr', qr: '2@abc', png: '/bot/whatsapp-qr.png' });
});
