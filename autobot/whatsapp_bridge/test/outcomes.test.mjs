/**
 * Exactly-once sends: a request repeated under its request id (the client did not get the
 * answer) is answered as the first time, never sent twice; across reconnects and restarts.
 */
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { OUTCOME_FILE, OutcomeLog, requestDigest } from '../lib/outcomes.mjs';
import { authenticated, startTestBridge, tempDir, until } from './helpers.mjs';

const TO = '15551234567@s.whatsapp.net';
const SEND = { type: 'send', request_id: 'r1', to: TO, text: 'the reply' };

/** Make the stub session's sendText wait for `release()` after it sent (recorded) the text. */
function holdAfterSending(session) {
  let release;
  const gate = new Promise((resolve) => {
    release = resolve;
  });
  const send = session.sendText.bind(session);
  session.sendText = async (request) => {
    const id = await send(request);
    await gate;
    return id;
  };
  return () => release();
}

test('a repeated request id is answered again without sending again', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  client.send(SEND);
  const sent = await client.next();
  assert.deepEqual(sent, { type: 'sent', request_id: 'r1', id: 'SENT1' });
  client.send(SEND);
  assert.deepEqual(await client.next(), sent);
  assert.equal(bridge.session.sentTexts.length, 1);
});

test('dropped after the bridge sent, before `sent` arrived: the retry gets it, one message', async (t) => {
  const bridge = await startTestBridge(t);
  const release = holdAfterSending(bridge.session);
  const first = await authenticated(bridge);
  first.client.send(SEND);
  await until(() => bridge.session.sentTexts.length === 1, 'the message sent');
  first.client.ws.terminate(); // the answer has nowhere to go
  await first.client.closed;
  release();
  await until(() => bridge.outcomes.size === 1, 'the outcome recorded');
  const second = await authenticated(bridge);
  second.client.send(SEND); // the client's retry, same request id
  assert.deepEqual(await second.client.next(), { type: 'sent', request_id: 'r1', id: 'SENT1' });
  assert.equal(bridge.session.sentTexts.length, 1);
});

test('a repeat that arrives while the first is still sending waits for it: one message, two answers', async (t) => {
  const bridge = await startTestBridge(t);
  const release = holdAfterSending(bridge.session);
  const first = await authenticated(bridge);
  first.client.send(SEND);
  await until(() => bridge.session.sentTexts.length === 1, 'the message sent');
  const second = await authenticated(bridge); // the client reconnected (the first is replaced)
  second.client.send(SEND);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(second.client.pendingFrames(), 0, 'no answer before the first one is done');
  release();
  assert.deepEqual(await second.client.next(), { type: 'sent', request_id: 'r1', id: 'SENT1' });
  assert.equal(bridge.session.sentTexts.length, 1);
});

test('across a bridge restart: the recorded outcome answers the retry', async (t) => {
  const stateDir = join(await tempDir(t), 'state');
  const first = await startTestBridge(t, { stateDir });
  const release = holdAfterSending(first.session);
  const before = await authenticated(first);
  before.client.send(SEND);
  await until(() => first.session.sentTexts.length === 1, 'the message sent');
  before.client.ws.terminate();
  await before.client.closed;
  release();
  await until(() => first.outcomes.size === 1, 'the outcome recorded');
  await first.close();

  const second = await startTestBridge(t, { stateDir, key: first.key });
  const { client } = await authenticated(second);
  client.send(SEND);
  assert.deepEqual(await client.next(), { type: 'sent', request_id: 'r1', id: 'SENT1' });
  assert.deepEqual(second.session.sentTexts, [], 'the restarted bridge sent nothing');
});

test('a transient failure is not recorded: the retry really sends; a refusal is recorded', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  bridge.session.connected = false;
  client.send(SEND);
  assert.equal((await client.next()).code, 'not_connected');
  bridge.session.failNext = new Error('upstream hiccup');
  bridge.session.connected = true;
  client.send(SEND);
  assert.equal((await client.next()).code, 'send_failed');
  client.send(SEND);
  assert.deepEqual(await client.next(), { type: 'sent', request_id: 'r1', id: 'SENT1' });
  assert.equal(bridge.session.sentTexts.length, 1);

  const media = { type: 'send_media', request_id: 'm1', to: TO, path: 'later.pdf', kind: 'document' };
  client.send(media);
  const refused = await client.next();
  assert.equal(refused.code, 'path_refused');
  await writeFile(join(bridge.workspace, 'later.pdf'), '%PDF');
  client.send(media); // the same request: the same answer, the file is not read now
  assert.deepEqual(await client.next(), refused);
  assert.deepEqual(bridge.session.sentMedia, []);
});

test('a request id reused for another request is refused, never answered with the other outcome', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  client.send(SEND);
  assert.equal((await client.next()).type, 'sent');
  client.send({ ...SEND, text: 'something else' });
  assert.deepEqual(await client.next(), {
    type: 'error',
    request_id: 'r1',
    code: 'bad_request',
    message: 'this request_id was used for another request',
  });
  assert.equal(bridge.session.sentTexts.length, 1);
});

test('the log keeps the newest outcomes, 0600, rewritten once it holds twice the limit', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, OUTCOME_FILE);
  const outcomes = await OutcomeLog.open(dir, { limit: 3, log: () => {} });
  const performed = [];
  const sent = (id) => async () => {
    performed.push(id);
    return { type: 'sent', request_id: id, id: `W${id}` };
  };
  for (const id of ['a', 'b', 'c', 'd', 'e']) await outcomes.answer(id, 'f'.repeat(64), sent(id), assert.fail);
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.equal((await readFile(path, 'utf8')).trim().split('\n').length, 5);
  await outcomes.answer('f', 'f'.repeat(64), sent('f'), assert.fail); // the 6th line: rewritten
  assert.deepEqual(
    (await readFile(path, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).request_id),
    ['d', 'e', 'f'],
  );
  const reopened = await OutcomeLog.open(dir, { limit: 3, log: () => {} });
  assert.equal(reopened.size, 3);
  assert.deepEqual(await reopened.answer('e', 'f'.repeat(64), sent('e2'), assert.fail), {
    type: 'sent',
    request_id: 'e',
    id: 'We',
  });
  await reopened.answer('a', 'f'.repeat(64), sent('a'), assert.fail); // forgotten: done again
  assert.deepEqual(performed, ['a', 'b', 'c', 'd', 'e', 'f', 'a']);
});

test('a torn or damaged line is skipped and the file rewritten without it', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, OUTCOME_FILE);
  const good = { request_id: 'ok', digest: 'a'.repeat(64), answer: { type: 'sent', request_id: 'ok', id: 'W1' } };
  const transient = {
    request_id: 'tr',
    digest: 'a'.repeat(64),
    answer: { type: 'error', request_id: 'tr', code: 'not_connected', message: 'x' },
  };
  const lines = [JSON.stringify(good), 'not json', JSON.stringify(transient), '{"request_id":"torn'];
  await writeFile(path, lines.join('\n'), { mode: 0o600 });
  const logs = [];
  const outcomes = await OutcomeLog.open(dir, { log: (level, text) => logs.push(`${level}: ${text}`) });
  assert.equal(outcomes.size, 1);
  assert.deepEqual(logs, [`warn: 3 damaged line(s) of ${OUTCOME_FILE} skipped`]);
  assert.equal(await readFile(path, 'utf8'), `${JSON.stringify(good)}\n`);
});

test('the digest covers everything a request asks for, not its request id', () => {
  const text = { type: 'send', requestId: 'r1', to: TO, text: 'hi', replyTo: null };
  const media = { type: 'send_media', requestId: 'r1', to: TO, path: 'a.pdf', caption: null, kind: 'document' };
  assert.equal(requestDigest(text), requestDigest({ ...text, requestId: 'r2' }));
  const digests = new Set(
    [
      text,
      { ...text, to: '15550000000@s.whatsapp.net' },
      { ...text, text: 'ho' },
      { ...text, replyTo: 'Q1' },
      media,
      { ...media, path: 'b.pdf' },
      { ...media, caption: 'c' },
      { ...media, kind: 'photo' },
    ].map(requestDigest),
  );
  assert.equal(digests.size, 8);
});
