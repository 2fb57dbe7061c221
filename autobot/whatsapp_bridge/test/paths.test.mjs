import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { PathRefused, checkWorkspaceFile, readCheckedFile, readWorkspaceFile } from '../lib/paths.mjs';
import { authenticated, startTestBridge, tempDir } from './helpers.mjs';

const MAX = 1000;

/** A workspace with `photo.jpg` inside and `secret.txt` outside it, in one temp dir. */
async function layout(t) {
  const dir = await tempDir(t);
  const workspace = join(dir, 'workspace');
  await mkdir(join(workspace, 'sub'), { recursive: true });
  await writeFile(join(workspace, 'photo.jpg'), 'GOOD');
  await writeFile(join(workspace, 'sub', 'file.txt'), 'INSIDE');
  await writeFile(join(dir, 'secret.txt'), 'SECRET');
  await mkdir(join(dir, 'elsewhere'));
  await writeFile(join(dir, 'elsewhere', 'file.txt'), 'SECRET');
  return { dir, workspace };
}

async function refusal(promise) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PathRefused, `expected PathRefused, got ${error}`);
    return error;
  }
  assert.fail('the path was accepted');
}

test('a regular file inside the workspace is read (relative or absolute)', async (t) => {
  const { workspace } = await layout(t);
  assert.equal((await readWorkspaceFile(workspace, 'photo.jpg', MAX)).toString(), 'GOOD');
  assert.equal((await readWorkspaceFile(workspace, 'sub/file.txt', MAX)).toString(), 'INSIDE');
  assert.equal((await readWorkspaceFile(workspace, './sub/../photo.jpg', MAX)).toString(), 'GOOD');
  assert.equal((await readWorkspaceFile(workspace, join(workspace, 'photo.jpg'), MAX)).toString(), 'GOOD');
});

test('/etc/passwd and other absolute paths outside are refused', async (t) => {
  const { dir, workspace } = await layout(t);
  for (const path of ['/etc/passwd', join(dir, 'secret.txt'), '/', workspace]) {
    const error = await refusal(readWorkspaceFile(workspace, path, MAX));
    assert.equal(error.code, 'path_refused', path);
  }
  assert.match((await refusal(readWorkspaceFile(workspace, '/etc/passwd', MAX))).message, /outside the workspace/);
});

test('.. escapes are refused', async (t) => {
  const { workspace } = await layout(t);
  for (const path of ['../secret.txt', 'sub/../../secret.txt', '../../../../../../etc/passwd', '..', '.']) {
    assert.equal((await refusal(readWorkspaceFile(workspace, path, MAX))).code, 'path_refused', path);
  }
});

test('a symlink leading out of the workspace is refused; one staying inside is followed', async (t) => {
  const { dir, workspace } = await layout(t);
  await symlink('/etc/passwd', join(workspace, 'passwd'));
  await symlink(join(dir, 'secret.txt'), join(workspace, 'secret.txt'));
  await symlink(join(dir, 'elsewhere'), join(workspace, 'linkdir'));
  for (const path of ['passwd', 'secret.txt', 'linkdir/file.txt']) {
    const error = await refusal(readWorkspaceFile(workspace, path, MAX));
    assert.equal(error.code, 'path_refused');
    assert.match(error.message, /through a symlink/);
  }
  await symlink('photo.jpg', join(workspace, 'alias.jpg'));
  assert.equal((await readWorkspaceFile(workspace, 'alias.jpg', MAX)).toString(), 'GOOD');
});

test('a FIFO, a directory, a socket-less missing file are refused without blocking', async (t) => {
  const { workspace } = await layout(t);
  execFileSync('mkfifo', [join(workspace, 'pipe')]);
  assert.match((await refusal(readWorkspaceFile(workspace, 'pipe', MAX))).message, /a FIFO/);
  assert.match((await refusal(readWorkspaceFile(workspace, 'sub', MAX))).message, /a directory/);
  assert.match((await refusal(readWorkspaceFile(workspace, 'missing.jpg', MAX))).message, /no such file/);
  assert.match((await refusal(readWorkspaceFile(workspace, 'a\0b', MAX))).message, /not a usable path/);
});

test('a file over the cap is too_large; exactly the cap is read', async (t) => {
  const { workspace } = await layout(t);
  await writeFile(join(workspace, 'big.bin'), Buffer.alloc(MAX + 1));
  await writeFile(join(workspace, 'cap.bin'), Buffer.alloc(MAX));
  const error = await refusal(readWorkspaceFile(workspace, 'big.bin', MAX));
  assert.equal(error.code, 'too_large');
  assert.equal((await readWorkspaceFile(workspace, 'cap.bin', MAX)).length, MAX);
});

test('the file swapped for a symlink after the check is refused (O_NOFOLLOW)', async (t) => {
  const { dir, workspace } = await layout(t);
  const checked = await checkWorkspaceFile(workspace, 'photo.jpg', MAX);
  await symlink(join(dir, 'secret.txt'), join(workspace, 'swap'));
  await rename(join(workspace, 'swap'), join(workspace, 'photo.jpg'));
  const error = await refusal(readCheckedFile(checked, MAX));
  assert.match(error.message, /a symlink/);
});

test('a directory on the way swapped for a symlink after the check is refused (fstat: same inode)', async (t) => {
  const { dir, workspace } = await layout(t);
  const checked = await checkWorkspaceFile(workspace, 'sub/file.txt', MAX);
  await rename(join(workspace, 'sub'), join(workspace, 'sub.old'));
  await symlink(join(dir, 'elsewhere'), join(workspace, 'sub')); // sub/file.txt now opens elsewhere/file.txt
  const error = await refusal(readCheckedFile(checked, MAX));
  assert.match(error.message, /changed between the check and the open/);
});

test('the file replaced by another regular file after the check is refused', async (t) => {
  const { workspace } = await layout(t);
  const checked = await checkWorkspaceFile(workspace, 'photo.jpg', MAX);
  await writeFile(join(workspace, 'other'), 'OTHER');
  await rename(join(workspace, 'other'), join(workspace, 'photo.jpg'));
  await refusal(readCheckedFile(checked, MAX));
});

test('a FIFO swapped in after the check is refused without blocking', async (t) => {
  const { workspace } = await layout(t);
  const checked = await checkWorkspaceFile(workspace, 'photo.jpg', MAX);
  execFileSync('mkfifo', [join(workspace, 'pipe')]);
  await rename(join(workspace, 'pipe'), join(workspace, 'photo.jpg'));
  await refusal(readCheckedFile(checked, MAX));
});

test('a real race: another process swapping the file and a symlink never gets the secret read', async (t) => {
  const { dir, workspace } = await layout(t);
  const swapper = spawn(
    process.execPath,
    [
      '-e',
      `
      const fs = require('node:fs');
      const [workspace, secret] = process.argv.slice(1);
      const deadline = Date.now() + 20000;
      process.stdout.write('ready\\n');
      while (Date.now() < deadline) {
        fs.symlinkSync(secret, workspace + '/tmp-link');
        fs.renameSync(workspace + '/tmp-link', workspace + '/race');
        fs.writeFileSync(workspace + '/tmp-file', 'GOOD');
        fs.renameSync(workspace + '/tmp-file', workspace + '/race');
      }
      `,
      workspace,
      join(dir, 'secret.txt'),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => swapper.kill('SIGKILL'));
  await new Promise((resolve) => swapper.stdout.once('data', resolve));
  const outcomes = { read: 0, refused: 0 };
  for (let i = 0; i < 1500; i += 1) {
    try {
      const data = await readWorkspaceFile(workspace, 'race', MAX);
      assert.equal(data.toString(), 'GOOD');
      outcomes.read += 1;
    } catch (error) {
      assert.ok(error instanceof PathRefused, String(error));
      outcomes.refused += 1;
    }
  }
  swapper.kill('SIGKILL');
  await once(swapper, 'exit');
  assert.equal(outcomes.read + outcomes.refused, 1500);
  assert.ok(outcomes.read > 0 && outcomes.refused > 0, `both outcomes happened: ${JSON.stringify(outcomes)}`);
});

test('send_media over the protocol: /etc/passwd is refused, a good file reaches the session', async (t) => {
  const dir = await tempDir(t);
  const workspace = join(dir, 'workspace');
  await mkdir(workspace);
  await writeFile(join(workspace, 'photo.jpg'), 'JPEGDATA');
  await writeFile(join(workspace, 'big.pdf'), Buffer.alloc(2001));
  const bridge = await startTestBridge(t, { dir, workspace, maxFileBytes: 2000 });
  const { client } = await authenticated(bridge);
  const to = '15551234567@s.whatsapp.net';

  client.send({ type: 'send_media', request_id: 'm1', to, path: '/etc/passwd', caption: null, kind: 'document' });
  const refused = await client.next();
  assert.equal(refused.type, 'error');
  assert.equal(refused.request_id, 'm1');
  assert.equal(refused.code, 'path_refused');

  client.send({ type: 'send_media', request_id: 'm2', to, path: '../../../etc/passwd', caption: null, kind: 'photo' });
  assert.equal((await client.next()).code, 'path_refused');

  client.send({ type: 'send_media', request_id: 'm3', to, path: 'big.pdf', caption: null, kind: 'document' });
  assert.deepEqual(
    { ...(await client.next()), message: undefined },
    { type: 'error', request_id: 'm3', code: 'too_large', message: undefined },
  );
  assert.equal(bridge.session.sentMedia.length, 0);

  client.send({ type: 'send_media', request_id: 'm4', to, path: 'photo.jpg', caption: 'look', kind: 'photo' });
  assert.deepEqual(await client.next(), { type: 'sent', request_id: 'm4', id: 'SENT1' });
  assert.equal(bridge.session.sentMedia.length, 1);
  const [sent] = bridge.session.sentMedia;
  assert.equal(sent.data.toString(), 'JPEGDATA');
  assert.deepEqual(
    { ...sent, data: undefined },
    { to, kind: 'photo', data: undefined, mimeType: 'image/jpeg', fileName: 'photo.jpg', caption: 'look' },
  );
});
