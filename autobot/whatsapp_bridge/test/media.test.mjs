/**
 * Media are fetched only when the client asks (`fetch_media`, after its access decision):
 * a message acknowledged without a fetch is never downloaded. The stub session records every
 * download and saves through the real inbox code.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { authenticated, mediaMessage, messageFrame, startTestBridge, tempDir, until } from './helpers.mjs';

const PATH = 'inbox/whatsapp-15551234567-P1-photo.bin';

/** The names in the bridge's workspace inbox (none when there is no inbox). */
async function inbox(bridge) {
  try {
    return await readdir(join(bridge.workspace, 'inbox'));
  } catch (error) {
    if (error.code === 'ENOENT') return [];
    throw error;
  }
}

test('a message arrives with its media described, nothing downloaded; acked unfetched, it never is', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  const [frame, source] = mediaMessage('P1');
  bridge.session.emit('message', frame, source);
  const delivered = await client.next();
  assert.deepEqual(delivered.media, [{ kind: 'photo', mime_type: 'image/jpeg', size: 11 }]);
  assert.ok(!JSON.stringify(delivered).includes(source), 'the source never travels');
  client.send({ type: 'ack', id: 'P1' }); // the gateway refused the sender
  await until(() => bridge.pending.size === 0, 'the ack');
  client.send({ type: 'fetch_media', request_id: 'f1', id: 'P1' }); // too late: forgotten
  assert.deepEqual(await client.next(), {
    type: 'error',
    request_id: 'f1',
    code: 'unknown_message',
    message: 'no usable unacknowledged message P1',
  });
  assert.deepEqual(bridge.session.downloads, []);
  assert.deepEqual(await inbox(bridge), []);
});

test('fetch_media downloads into the inbox and answers with the file; a second fetch replaces it', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  const [frame, source] = mediaMessage('P1', { content: 'the photo' });
  bridge.session.emit('message', frame, source);
  await client.next();
  assert.deepEqual(bridge.session.downloads, [], 'nothing before the request');
  client.send({ type: 'fetch_media', request_id: 'f1', id: 'P1' });
  const answer = {
    type: 'media',
    request_id: 'f1',
    id: 'P1',
    media: [{ kind: 'photo', path: PATH, mime_type: 'application/octet-stream', size: 9 }],
  };
  assert.deepEqual(await client.next(), answer);
  assert.deepEqual(bridge.session.downloads, [{ id: 'P1', chat: frame.chat, source }]);
  assert.equal(await readFile(join(bridge.workspace, PATH), 'utf8'), 'the photo');
  client.send({ type: 'fetch_media', request_id: 'f2', id: 'P1' });
  assert.deepEqual(await client.next(), { ...answer, request_id: 'f2' });
  assert.equal(bridge.session.downloads.length, 2);
  assert.deepEqual(await inbox(bridge), ['whatsapp-15551234567-P1-photo.bin'], 'replaced, not copied');
});

test('a fetch of a message already being downloaded shares that download', async (t) => {
  const bridge = await startTestBridge(t);
  let release;
  const gate = new Promise((resolve) => {
    release = resolve;
  });
  const fetchMedia = bridge.session.fetchMedia.bind(bridge.session);
  let started = 0;
  bridge.session.fetchMedia = async (request) => {
    started += 1;
    await gate;
    return fetchMedia(request);
  };
  const first = await authenticated(bridge);
  bridge.session.emit('message', ...mediaMessage('P1'));
  await first.client.next();
  first.client.send({ type: 'fetch_media', request_id: 'f1', id: 'P1' });
  await until(() => started === 1, 'the first download under way');
  const second = await authenticated(bridge); // the gateway reconnected and asks again
  await second.client.next(); // the redelivery
  second.client.send({ type: 'fetch_media', request_id: 'f2', id: 'P1' });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(started, 1, 'still the one download');
  release();
  const answer = await second.client.next();
  assert.deepEqual([answer.request_id, answer.media.map((media) => media.path)], ['f2', [PATH]]);
  assert.equal(bridge.session.downloads.length, 1, 'downloaded once');
  second.client.send({ type: 'fetch_media', request_id: 'f3', id: 'P1' });
  assert.equal((await second.client.next()).media[0].path, PATH);
  assert.equal(bridge.session.downloads.length, 2, 'a later request downloads again');
});

test('a failing download is answered with the reason for each media; nothing is left', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  bridge.session.emit('message', ...mediaMessage('P1'));
  await client.next();
  bridge.session.failFetch = new Error('media server unreachable');
  client.send({ type: 'fetch_media', request_id: 'f1', id: 'P1' });
  assert.deepEqual(await client.next(), {
    type: 'media',
    request_id: 'f1',
    id: 'P1',
    media: [{ kind: 'photo', error: 'cannot be fetched: media server unreachable' }],
  });
  assert.ok(bridge.logs.includes('warn: the media of message P1 could not be fetched: media server unreachable'));
  assert.deepEqual(await inbox(bridge), []);
});

test('a message without media, or kept without its source, is answered without a download', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  bridge.session.emit('message', messageFrame('T1'));
  const [frame] = mediaMessage('P2');
  bridge.session.emit('message', frame, null); // the session could not keep its source
  await client.next();
  await client.next();
  client.send({ type: 'fetch_media', request_id: 'f1', id: 'T1' });
  assert.deepEqual(await client.next(), { type: 'media', request_id: 'f1', id: 'T1', media: [] });
  client.send({ type: 'fetch_media', request_id: 'f2', id: 'P2' });
  assert.deepEqual(await client.next(), {
    type: 'media',
    request_id: 'f2',
    id: 'P2',
    media: [{ kind: 'photo', error: 'the message was not kept in a form its media can be fetched from' }],
  });
  assert.deepEqual(bridge.session.downloads, []);
});

test('a malformed fetch_media is a bad_request with its request id', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  for (const frame of [
    { type: 'fetch_media', request_id: 'f1' },
    { type: 'fetch_media', request_id: 'f1', id: '' },
    { type: 'fetch_media', request_id: 'f1', id: 'P1', path: '/etc/passwd' },
  ]) {
    client.send(frame);
    const error = await client.next();
    assert.deepEqual([error.type, error.code, error.request_id], ['error', 'bad_request', 'f1']);
  }
  assert.deepEqual(bridge.session.downloads, []);
});

test('the source survives a bridge restart: the media can be fetched after it', async (t) => {
  const stateDir = join(await tempDir(t), 'state');
  const first = await startTestBridge(t, { stateDir });
  const before = await authenticated(first);
  first.session.emit('message', ...mediaMessage('P1'));
  await before.client.next();
  await first.close();
  const second = await startTestBridge(t, { stateDir, key: first.key, workspace: first.workspace });
  const { client } = await authenticated(second);
  assert.equal((await client.next()).id, 'P1', 'redelivered');
  client.send({ type: 'fetch_media', request_id: 'f1', id: 'P1' });
  assert.equal((await client.next()).media[0].path, PATH);
  assert.equal(second.session.downloads.length, 1);
});
