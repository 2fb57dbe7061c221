import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { ConfigError } from '../lib/errors.mjs';
import { PendingStore } from '../lib/pending.mjs';
import { authenticated, mediaMessage, messageFrame, startTestBridge, tempDir, until } from './helpers.mjs';

const collect = async (store) => {
  const frames = [];
  for await (const frame of store.frames()) frames.push(frame);
  return frames;
};

test('messages are kept on disk 0600 until acknowledged, and survive a reopen', async (t) => {
  const dir = join(await tempDir(t), 'state');
  const logs = [];
  const log = (level, text) => logs.push(`${level}: ${text}`);
  const store = await PendingStore.open(dir, { log });
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.equal(await store.add(messageFrame('A')), true);
  assert.equal(await store.add(messageFrame('B')), true);
  assert.equal(await store.add(messageFrame('A')), false, 'the same id is kept once');
  const files = await readdir(dir);
  assert.deepEqual(files, ['m0000000000000001.json', 'm0000000000000002.json']);
  assert.equal((await stat(join(dir, files[0]))).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(await readFile(join(dir, files[0]), 'utf8')), { frame: messageFrame('A'), source: null });

  const reopened = await PendingStore.open(dir, { log });
  assert.deepEqual(reopened.ids(), ['A', 'B']);
  assert.deepEqual(await collect(reopened), [messageFrame('A'), messageFrame('B')]);
  assert.equal(await reopened.ack('A'), true);
  assert.equal(await reopened.ack('A'), false, 'acks are idempotent');
  assert.equal(await reopened.ack('never-seen'), false);
  await reopened.add(messageFrame('C'));
  const third = await PendingStore.open(dir, { log });
  assert.deepEqual(third.ids(), ['B', 'C'], 'sequence numbers continue after a reopen');
  assert.ok(logs.some((line) => line.includes('2 unacknowledged message(s) kept')));
});

test('a media source is kept with its frame until the ack, across a reopen; never sent', async (t) => {
  const dir = join(await tempDir(t), 'state');
  const store = await PendingStore.open(dir, { log: () => {} });
  const [frame, source] = mediaMessage('P');
  await store.add(frame, source);
  await store.add(messageFrame('T'));
  const reopened = await PendingStore.open(dir, { log: () => {} });
  assert.deepEqual(await reopened.record('P'), { frame, source });
  assert.deepEqual(await reopened.record('T'), { frame: messageFrame('T'), source: null });
  assert.deepEqual(await collect(reopened), [frame, messageFrame('T')], 'frames only');
  await reopened.ack('P');
  assert.equal(await reopened.record('P'), null);
  assert.equal(await reopened.record('never-seen'), null);
});

test('a message with 1000 newer ones is dropped, with a warning', async (t) => {
  const dir = join(await tempDir(t), 'state');
  const logs = [];
  const store = await PendingStore.open(dir, { log: (level, text) => logs.push(`${level}: ${text}`), limit: 3 });
  for (const id of ['A', 'B', 'C', 'D', 'E']) await store.add(messageFrame(id));
  assert.deepEqual(store.ids(), ['C', 'D', 'E']);
  assert.equal((await readdir(dir)).length, 3);
  assert.deepEqual(
    logs.filter((line) => line.startsWith('warn')),
    [
      'warn: dropped unacknowledged message A: 3 newer messages are kept',
      'warn: dropped unacknowledged message B: 3 newer messages are kept',
    ],
  );
});

test('the default limit is 1000', async (t) => {
  const dir = join(await tempDir(t), 'state');
  const store = await PendingStore.open(dir, { log: () => {} });
  for (let i = 0; i < 1001; i += 1) await store.add(messageFrame(`M${i}`));
  assert.equal(store.size, 1000);
  assert.equal(store.ids()[0], 'M1');
});

test('leftovers of an interrupted write are removed, a corrupt file is set aside', async (t) => {
  const dir = join(await tempDir(t), 'state');
  await mkdir(dir, { mode: 0o700 });
  await writeFile(join(dir, '.tmp-m0000000000000009.json'), '{"type":"mess');
  await writeFile(join(dir, 'm0000000000000003.json'), 'not json');
  await writeFile(join(dir, 'm0000000000000004.json'), JSON.stringify({ frame: messageFrame('OK'), source: null }));
  await writeFile(join(dir, 'm0000000000000006.json'), JSON.stringify({ frame: messageFrame('BAD'), source: 7 }));
  await writeFile(join(dir, 'm0000000000000007.json'), JSON.stringify(messageFrame('BARE'))); // no record
  const logs = [];
  const store = await PendingStore.open(dir, { log: (level, text) => logs.push(text) });
  assert.deepEqual(store.ids(), ['OK']);
  assert.deepEqual((await readdir(dir)).sort(), [
    'm0000000000000003.json.corrupt',
    'm0000000000000004.json',
    'm0000000000000006.json.corrupt',
    'm0000000000000007.json.corrupt',
  ]);
  assert.ok(logs.some((line) => line.includes('m0000000000000003.json is unreadable')));
  assert.ok(logs.some((line) => line.includes('m0000000000000006.json is unreadable (the media source')));
  await store.add(messageFrame('NEXT'));
  assert.ok((await readdir(dir)).includes('m0000000000000008.json'));
});

test('a state directory that is a symlink or open to others is refused', async (t) => {
  const base = await tempDir(t);
  await mkdir(join(base, 'real'), { mode: 0o700 });
  await symlink(join(base, 'real'), join(base, 'link'));
  await assert.rejects(PendingStore.open(join(base, 'link'), { log: () => {} }), (error) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /is a symlink/);
    return true;
  });
  await mkdir(join(base, 'open'));
  await chmod(join(base, 'open'), 0o755);
  await assert.rejects(
    PendingStore.open(join(base, 'open'), { log: () => {} }),
    /accessible by group or others \(mode 755\)/,
  );
});

test('unacknowledged messages are redelivered after each reconnect, oldest first, until acked', async (t) => {
  const bridge = await startTestBridge(t);
  const first = await authenticated(bridge);
  bridge.session.emit('message', messageFrame('A'));
  bridge.session.emit('message', messageFrame('B'));
  assert.equal((await first.client.next()).id, 'A');
  assert.equal((await first.client.next()).id, 'B');
  first.client.send({ type: 'ack', id: 'A' });
  await until(() => bridge.pending.size === 1, 'the ack of A');
  first.client.ws.close();
  await first.client.closed;

  // Received while no client is connected: kept for the next one.
  bridge.session.emit('message', messageFrame('C'));
  await until(() => bridge.pending.size === 2, 'C kept');

  const second = await authenticated(bridge);
  assert.equal(second.status.type, 'status');
  assert.equal((await second.client.next()).id, 'B');
  assert.equal((await second.client.next()).id, 'C');
  second.client.send({ type: 'ack', id: 'B' });
  second.client.send({ type: 'ack', id: 'C' });
  await until(() => bridge.pending.size === 0, 'both acked');
  second.client.ws.close();
  await second.client.closed;

  const third = await authenticated(bridge);
  bridge.session.emit('message', messageFrame('D'));
  assert.equal((await third.client.next()).id, 'D', 'nothing acknowledged comes back');
});

test('a new message during redelivery comes after the older ones', async (t) => {
  const bridge = await startTestBridge(t);
  for (let i = 0; i < 50; i += 1) bridge.session.emit('message', messageFrame(`OLD${i}`));
  await until(() => bridge.pending.size === 50, 'kept');
  const { client } = await authenticated(bridge);
  bridge.session.emit('message', messageFrame('NEW'));
  const ids = [];
  for (let i = 0; i < 51; i += 1) ids.push((await client.next()).id);
  assert.deepEqual(ids, [...Array.from({ length: 50 }, (_, i) => `OLD${i}`), 'NEW']);
});

test('pending messages survive a bridge restart (same state directory)', async (t) => {
  const dir = await tempDir(t);
  const stateDir = join(dir, 'state');
  const first = await startTestBridge(t, { stateDir });
  const session = await authenticated(first);
  first.session.emit('message', messageFrame('KEEP'));
  first.session.emit('message', messageFrame('ACKED'));
  assert.equal((await session.client.next()).id, 'KEEP');
  assert.equal((await session.client.next()).id, 'ACKED');
  session.client.send({ type: 'ack', id: 'ACKED' });
  await until(() => first.pending.size === 1, 'ack');
  await first.close();

  const second = await startTestBridge(t, { stateDir, key: first.key });
  const { client } = await authenticated(second);
  assert.deepEqual(await client.next(), messageFrame('KEEP'));
});

test('an oversized message text is truncated to fit the frame cap', async (t) => {
  const bridge = await startTestBridge(t);
  const { client } = await authenticated(bridge);
  bridge.session.emit('message', messageFrame('BIG', '\u0001'.repeat(100_000))); // 6 JSON bytes each
  const frame = await client.next();
  assert.equal(frame.id, 'BIG');
  assert.ok(frame.text.endsWith('[truncated by the bridge]'));
  assert.ok(Buffer.byteLength(JSON.stringify(frame)) <= 262_144);
});

test('a message still being stored when a client authenticates is delivered once, in order', async (t) => {
  const bridge = await startTestBridge(t);
  let release;
  const gate = new Promise((resolve) => {
    release = resolve;
  });
  const add = bridge.pending.add.bind(bridge.pending);
  bridge.pending.add = async (frame) => {
    await gate;
    return add(frame);
  };
  bridge.session.emit('message', messageFrame('SLOW')); // its delivery waits on the disk
  const { client } = await authenticated(bridge); // the redelivery is queued behind it
  release();
  assert.equal((await client.next()).id, 'SLOW');
  bridge.session.emit('message', messageFrame('NEXT'));
  assert.equal((await client.next()).id, 'NEXT', 'SLOW came once: no copy before NEXT');
});
