import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { CLOSE } from '../lib/handshake.mjs';
import { authenticated, connect, until, tempDir } from './helpers.mjs';

const BRIDGE = fileURLToPath(new URL('../bridge.mjs', import.meta.url));
const STUB = fileURLToPath(new URL('../fixtures/stub-bridge.mjs', import.meta.url));

/** A bot directory: state/ (0700), a good secret file, a workspace. */
async function botDir(t) {
  const dir = await tempDir(t);
  const key = randomBytes(32);
  await mkdir(join(dir, 'state'), { mode: 0o700 });
  await mkdir(join(dir, 'workspace'));
  const secretFile = join(dir, 'state', 'whatsapp-bridge-secret');
  await writeFile(secretFile, `${key.toString('hex')}\n`, { mode: 0o600 });
  const socketPath = join(dir, 'state', 'whatsapp-bridge.sock');
  const args = (overrides = {}) => {
    const options = {
      listen: `unix:${socketPath}`,
      'secret-file': secretFile,
      'auth-dir': join(dir, 'state', 'whatsapp-auth'),
      'state-dir': join(dir, 'state', 'whatsapp-bridge-state'),
      workspace: join(dir, 'workspace'),
      'qr-png': join(dir, 'whatsapp-qr.png'),
      'max-file-bytes': '1048576',
      ...overrides,
    };
    return Object.entries(options).flatMap(([name, value]) => [`--${name}`, value]);
  };
  return { dir, key, secretFile, socketPath, args };
}

/** Run `script` with `args`; `exited` resolves to { code, signal, stderr }. */
function run(script, args, env = {}) {
  const child = spawn(process.execPath, [script, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text) => {
    stderr += text;
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal, stderr }));
  return { child, exited, stderr: () => stderr };
}

async function listening(bridge) {
  await until(() => bridge.stderr().includes('listening on'), 'the bridge to listen');
}

test('plain ws:// on 0.0.0.0 is refused at start: exit 2 with the reason on stderr', async (t) => {
  const bot = await botDir(t);
  const { code, stderr } = await run(BRIDGE, bot.args({ listen: 'ws://0.0.0.0:18799' })).exited;
  assert.equal(code, 2);
  assert.match(stderr, /refusing to listen on ws:\/\/0\.0\.0\.0:18799: plain ws:\/\/ is for loopback only/);
});

test('a secret file readable by others or behind a symlink refuses the start (exit 2)', async (t) => {
  const bot = await botDir(t);
  await chmod(bot.secretFile, 0o644);
  let result = await run(BRIDGE, bot.args()).exited;
  assert.equal(result.code, 2);
  assert.match(result.stderr, /accessible by group or others \(mode 644\)/);
  assert.doesNotMatch(result.stderr, new RegExp(bot.key.toString('hex')));
  await chmod(bot.secretFile, 0o600);
  const link = join(bot.dir, 'secret-link');
  await symlink(bot.secretFile, link);
  result = await run(BRIDGE, bot.args({ 'secret-file': link })).exited;
  assert.equal(result.code, 2);
  assert.match(result.stderr, /is a symlink/);
});

test('bad arguments, a missing workspace, an open auth directory: exit 2', async (t) => {
  const bot = await botDir(t);
  assert.equal((await run(BRIDGE, ['--listen', 'unix:/tmp/x.sock']).exited).code, 2);
  assert.equal((await run(BRIDGE, bot.args({ workspace: join(bot.dir, 'nope') })).exited).code, 2);
  await mkdir(join(bot.dir, 'open-auth'), { mode: 0o755 });
  await chmod(join(bot.dir, 'open-auth'), 0o755);
  const result = await run(BRIDGE, bot.args({ 'auth-dir': join(bot.dir, 'open-auth') })).exited;
  assert.equal(result.code, 2);
  assert.match(result.stderr, /the auth directory .* is accessible by group or others/);
});

test('a socket directory others can write is refused (exit 2)', async (t) => {
  const bot = await botDir(t);
  const shared = join(bot.dir, 'shared');
  await mkdir(shared);
  await chmod(shared, 0o1777);
  const result = await run(STUB, bot.args({ listen: `unix:${join(shared, 'b.sock')}` })).exited;
  assert.equal(result.code, 2);
  assert.match(result.stderr, /writable by group or others/);
});

test('the running bridge: 0700 directories, 0600 socket, handshake, SIGTERM -> exit 0', async (t) => {
  const bot = await botDir(t);
  const bridge = run(STUB, bot.args());
  t.after(() => bridge.child.kill('SIGKILL'));
  await listening(bridge);
  for (const path of ['state/whatsapp-auth', 'state/whatsapp-bridge-state']) {
    assert.equal((await stat(join(bot.dir, path))).mode & 0o777, 0o700, path);
  }
  assert.equal((await stat(bot.socketPath)).mode & 0o777, 0o600);
  const { client, welcome } = await authenticated({ socketPath: bot.socketPath, key: bot.key });
  assert.equal(welcome.type, 'welcome');
  bridge.child.kill('SIGTERM');
  assert.equal((await client.closed).code, 1001);
  const { code } = await bridge.exited;
  assert.equal(code, 0);
  await assert.rejects(stat(bot.socketPath), { code: 'ENOENT' });
});

test('a message not acknowledged survives kill -9 of the bridge and is redelivered', async (t) => {
  const bot = await botDir(t);
  const first = run(STUB, bot.args(), { STUB_MESSAGES: '["M1","M2"]' });
  t.after(() => first.child.kill('SIGKILL'));
  await listening(first);
  const before = await authenticated({ socketPath: bot.socketPath, key: bot.key });
  assert.equal((await before.client.next()).id, 'M1');
  assert.equal((await before.client.next()).id, 'M2');
  before.client.send({ type: 'ack', id: 'M1' });
  const stateDir = join(bot.dir, 'state', 'whatsapp-bridge-state');
  await until(async () => (await readdir(stateDir)).length === 1, 'the ack of M1 on disk');
  first.child.kill('SIGKILL');
  assert.equal((await first.exited).signal, 'SIGKILL');

  const second = run(STUB, bot.args());
  t.after(() => second.child.kill('SIGKILL'));
  await listening(second); // the dead bridge's socket file is replaced
  const after = await authenticated({ socketPath: bot.socketPath, key: bot.key });
  assert.equal((await after.client.next()).id, 'M2');
  second.child.kill('SIGTERM');
  assert.equal((await second.exited).code, 0);
});

test('kill -9 after a fetch, before the ack: redelivered, fetched again into the same file', async (t) => {
  const bot = await botDir(t);
  const inbox = join(bot.dir, 'workspace', 'inbox');
  const first = run(STUB, bot.args(), { STUB_MEDIA_MESSAGES: '["P1"]' });
  t.after(() => first.child.kill('SIGKILL'));
  await listening(first);
  const before = await authenticated({ socketPath: bot.socketPath, key: bot.key });
  assert.deepEqual((await before.client.next()).media, [{ kind: 'photo', mime_type: 'image/jpeg', size: 11 }]);
  assert.deepEqual(await readdir(join(bot.dir, 'workspace')), [], 'nothing downloaded on arrival');
  before.client.send({ type: 'fetch_media', request_id: 'f1', id: 'P1' });
  const fetched = await before.client.next();
  assert.equal(fetched.media[0].path, 'inbox/whatsapp-15551234567-P1-photo.bin');
  first.child.kill('SIGKILL'); // the gateway never journaled nor acknowledged it
  await first.exited;

  const second = run(STUB, bot.args());
  t.after(() => second.child.kill('SIGKILL'));
  await listening(second);
  const after = await authenticated({ socketPath: bot.socketPath, key: bot.key });
  assert.equal((await after.client.next()).id, 'P1', 'redelivered with its source');
  after.client.send({ type: 'fetch_media', request_id: 'f2', id: 'P1' });
  assert.deepEqual((await after.client.next()).media, fetched.media);
  assert.deepEqual(await readdir(inbox), ['whatsapp-15551234567-P1-photo.bin'], 'one file, not two');
  after.client.send({ type: 'ack', id: 'P1' });
  const stateDir = join(bot.dir, 'state', 'whatsapp-bridge-state');
  await until(async () => !(await readdir(stateDir)).some((name) => name.startsWith('m')), 'the ack on disk');
  second.child.kill('SIGTERM');
  assert.equal((await second.exited).code, 0);
});

test('logged out by WhatsApp: the client sees logged_out, the bridge exits 3', async (t) => {
  const bot = await botDir(t);
  const bridge = run(STUB, bot.args());
  t.after(() => bridge.child.kill('SIGKILL'));
  await listening(bridge);
  const { client } = await authenticated({ socketPath: bot.socketPath, key: bot.key });
  client.send({ type: 'send', request_id: 'r', to: '15551234567@s.whatsapp.net', text: 'logout' });
  // The `sent` waits for its outcome to be on disk: the logout may overtake it (and the
  // bridge exit before it is answered: a retry would get the recorded answer).
  let frame = await client.next();
  if (frame.type === 'sent') {
    assert.deepEqual(frame, { type: 'sent', request_id: 'r', id: 'SENT1' });
    frame = await client.next();
  }
  assert.deepEqual(frame, { type: 'status', state: 'logged_out', detail: 'the phone unlinked this device' });
  assert.equal((await bridge.exited).code, 3);
});

test('a second bridge on a live socket fails (exit 1) and leaves the first one serving', async (t) => {
  const bot = await botDir(t);
  const first = run(STUB, bot.args());
  t.after(() => first.child.kill('SIGKILL'));
  await listening(first);
  const second = await run(STUB, bot.args()).exited;
  assert.equal(second.code, 1);
  assert.match(second.stderr, /another process is listening/);
  const client = connect({ socketPath: bot.socketPath });
  assert.equal((await client.next()).type, 'challenge');
  client.send('{}');
  assert.equal((await client.closed).code, CLOSE.PROTOCOL_ERROR);
});
