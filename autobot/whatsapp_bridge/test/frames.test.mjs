import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  FrameError,
  MAX_FRAME_BYTES,
  TRUNCATION_MARK,
  encodeFrame,
  fitMessageFrame,
  isSendableJid,
  parseClientFrame,
} from '../lib/frames.mjs';
import { messageFrame } from './helpers.mjs';

const TO = '15551234567@s.whatsapp.net';

function refused(frame) {
  try {
    parseClientFrame(typeof frame === 'string' ? frame : JSON.stringify(frame));
  } catch (error) {
    assert.ok(error instanceof FrameError);
    return error;
  }
  assert.fail(`accepted ${JSON.stringify(frame)}`);
}

test('the client frames are parsed', () => {
  assert.deepEqual(parseClientFrame('{"type":"ack","id":"3EB0A1"}'), { type: 'ack', id: '3EB0A1' });
  assert.deepEqual(parseClientFrame('{"type":"fetch_media","request_id":"f","id":"3EB0A1"}'), {
    type: 'fetch_media',
    requestId: 'f',
    id: '3EB0A1',
  });
  assert.deepEqual(
    parseClientFrame(JSON.stringify({ type: 'send', request_id: 'r', to: TO, text: 'hi', reply_to: 'Q1' })),
    {
      type: 'send',
      requestId: 'r',
      to: TO,
      text: 'hi',
      replyTo: 'Q1',
    },
  );
  assert.deepEqual(
    parseClientFrame(JSON.stringify({ type: 'send', request_id: 'r', to: TO, text: 'hi' })).replyTo,
    null,
  );
  assert.deepEqual(
    parseClientFrame(
      JSON.stringify({
        type: 'send_media',
        request_id: 'r',
        to: '120363@g.us',
        path: 'a.pdf',
        caption: '',
        kind: 'document',
      }),
    ),
    { type: 'send_media', requestId: 'r', to: '120363@g.us', path: 'a.pdf', caption: null, kind: 'document' },
  );
});

test('JIDs: phone numbers, LIDs and groups; nothing else', () => {
  for (const jid of [TO, '123456789012345@lid', '120363012345678901@g.us', '15551234567-1600000000@g.us']) {
    assert.equal(isSendableJid(jid), true, jid);
  }
  for (const jid of [
    '+15551234567',
    '15551234567',
    'status@broadcast',
    'x@s.whatsapp.net',
    '1@newsletter',
    `${TO}\n`,
    5,
    null,
  ]) {
    assert.equal(isSendableJid(jid), false, String(jid));
  }
});

test('bad frames are refused with a code and the request id when readable', () => {
  assert.equal(refused('nope').code, 'bad_request');
  assert.equal(refused('[]').code, 'bad_request');
  assert.equal(refused({ kind: 'x' }).code, 'bad_request');
  assert.equal(refused({ type: 'hello' }).code, 'unknown_type');
  assert.equal(refused({ type: '__proto__' }).code, 'unknown_type');
  assert.equal(refused({ type: 'ack' }).code, 'bad_request');
  assert.equal(refused({ type: 'ack', id: 'x'.repeat(129) }).code, 'bad_request');
  const cases = [
    { type: 'send', request_id: 'r', to: TO, text: '' },
    { type: 'send', request_id: 'r', to: TO, text: 'x'.repeat(65_537) },
    { type: 'send', request_id: 'r', to: '+15551234567', text: 'hi' },
    { type: 'send', request_id: 'r', to: TO, text: 'hi', extra: 1 },
    { type: 'send', request_id: 'r', to: TO },
    { type: 'send', request_id: 'r', to: TO, text: 7 },
    { type: 'send', request_id: 'r', to: TO, text: 'hi', reply_to: 7 },
    { type: 'send_media', request_id: 'r', to: TO, path: 'a', kind: 'sticker' },
    { type: 'send_media', request_id: 'r', to: TO, path: '', kind: 'photo' },
    { type: 'send_media', request_id: 'r', to: TO, path: 'a', kind: 'photo', caption: 1 },
    { type: 'fetch_media', request_id: 'r' },
    { type: 'fetch_media', request_id: 'r', id: 7 },
    { type: 'fetch_media', request_id: 'r', id: 'x'.repeat(129) },
    { type: 'fetch_media', request_id: 'r', id: 'A', to: TO },
  ];
  for (const frame of cases) {
    const error = refused(frame);
    assert.equal(error.code, 'bad_request', JSON.stringify(frame).slice(0, 80));
    assert.equal(error.requestId, 'r');
  }
  assert.equal(refused({ type: 'send', request_id: 'x'.repeat(65), to: TO, text: 'hi' }).requestId, null);
  assert.equal(refused({ type: 'send', to: TO, text: 'hi' }).requestId, null);
  assert.equal(
    parseClientFrame(JSON.stringify({ type: 'send', request_id: 'x'.repeat(64), to: TO, text: 'x'.repeat(65_536) }))
      .type,
    'send',
  );
});

test('a message frame too big for the cap is shortened to fit, never splitting a surrogate pair', () => {
  const small = messageFrame('S');
  assert.equal(fitMessageFrame(small), small);
  for (const unit of ['a', '\u00e9', '\u20ac', '\u0001', '"', '\ud83d\ude00']) {
    const frame = messageFrame('X', unit.repeat(300_000));
    const fitted = fitMessageFrame(frame);
    const size = Buffer.byteLength(JSON.stringify(fitted));
    assert.ok(size <= MAX_FRAME_BYTES, `${size} for ${JSON.stringify(unit)}`);
    assert.ok(size > MAX_FRAME_BYTES - 64, `not cut more than needed: ${size}`);
    assert.ok(fitted.text.endsWith(TRUNCATION_MARK));
    assert.ok(fitted.text.startsWith(unit.repeat(1000)));
    const body = fitted.text.slice(0, -TRUNCATION_MARK.length);
    assert.equal(body.length % unit.length, 0, 'whole characters only');
    assert.equal(encodeFrame(fitted).length > 0, true);
  }
});

test('encodeFrame refuses a frame over the cap', () => {
  assert.throws(() => encodeFrame({ type: 'qr', qr: 'x'.repeat(MAX_FRAME_BYTES) }), RangeError);
});
