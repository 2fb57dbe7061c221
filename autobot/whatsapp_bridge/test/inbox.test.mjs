import assert from 'node:assert/strict';
import { chown, lstat, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { InboxRefused, PART_SUFFIX, inboxName, saveToInbox } from '../lib/inbox.mjs';
import { extensionFor, mimeForFile } from '../lib/media.mjs';
import { tempDir } from './helpers.mjs';

const NAME = { chat: '15551234567@s.whatsapp.net', messageId: '3EB0ABC', kind: 'photo', extension: 'jpg' };

async function* chunks(...parts) {
  for (const part of parts) yield Buffer.from(part);
}

test('a received file lands in inbox/ (created 0700) as a new 0600 file', async (t) => {
  const workspace = await tempDir(t);
  const saved = await saveToInbox({ workspace, name: NAME, source: chunks('ab', 'cd'), maxBytes: 10 });
  assert.deepEqual(saved, { path: 'inbox/whatsapp-15551234567-3EB0ABC-photo.jpg', size: 4 });
  assert.equal(await readFile(join(workspace, saved.path), 'utf8'), 'abcd');
  assert.equal((await stat(join(workspace, 'inbox'))).mode & 0o777, 0o700);
  assert.equal((await stat(join(workspace, saved.path))).mode & 0o777, 0o600);
});

test('the same message saved again replaces its file: one file, the new content, nothing left over', async (t) => {
  const workspace = await tempDir(t);
  await saveToInbox({ workspace, name: NAME, source: chunks('first'), maxBytes: 10 });
  const again = await saveToInbox({ workspace, name: NAME, source: chunks('second'), maxBytes: 10 });
  assert.deepEqual(again, { path: 'inbox/whatsapp-15551234567-3EB0ABC-photo.jpg', size: 6 });
  assert.deepEqual(await readdir(join(workspace, 'inbox')), ['whatsapp-15551234567-3EB0ABC-photo.jpg']);
  assert.equal(await readFile(join(workspace, again.path), 'utf8'), 'second');
});

test('a symlink planted at the name (or at its partial name) is replaced, never followed', async (t) => {
  const workspace = await tempDir(t);
  const outside = join(await tempDir(t), 'target');
  await writeFile(outside, 'ORIGINAL');
  await mkdir(join(workspace, 'inbox'), { mode: 0o700 });
  await symlink(outside, join(workspace, 'inbox', inboxName(NAME)));
  await symlink(outside, join(workspace, 'inbox', `.${inboxName(NAME)}${PART_SUFFIX}`));
  const saved = await saveToInbox({ workspace, name: NAME, source: chunks('new'), maxBytes: 10 });
  assert.equal(saved.path, `inbox/${inboxName(NAME)}`);
  assert.equal(await readFile(outside, 'utf8'), 'ORIGINAL');
  assert.ok((await lstat(join(workspace, saved.path))).isFile());
  assert.equal(await readFile(join(workspace, saved.path), 'utf8'), 'new');
  assert.deepEqual(await readdir(join(workspace, 'inbox')), [inboxName(NAME)]);
});

test('the partial file of a download killed midway is replaced by the next one', async (t) => {
  const workspace = await tempDir(t);
  await mkdir(join(workspace, 'inbox'), { mode: 0o700 });
  await writeFile(join(workspace, 'inbox', `.${inboxName(NAME)}${PART_SUFFIX}`), 'HALF');
  await saveToInbox({ workspace, name: NAME, source: chunks('whole'), maxBytes: 10 });
  assert.deepEqual(await readdir(join(workspace, 'inbox')), [inboxName(NAME)]);
});

test('a directory standing at the name is refused and left alone; nothing else remains', async (t) => {
  const workspace = await tempDir(t);
  await mkdir(join(workspace, 'inbox', inboxName(NAME)), { recursive: true });
  await writeFile(join(workspace, 'inbox', inboxName(NAME), 'inside'), 'MODEL');
  await assert.rejects(
    saveToInbox({ workspace, name: NAME, source: chunks('x'), maxBytes: 10 }),
    (error) => error instanceof InboxRefused && error.code === 'refused',
  );
  assert.deepEqual(await readdir(join(workspace, 'inbox')), [inboxName(NAME)]);
  assert.equal(await readFile(join(workspace, 'inbox', inboxName(NAME), 'inside'), 'utf8'), 'MODEL');
});

test('a symlinked inbox/ is refused: nothing is written where it points', async (t) => {
  const workspace = await tempDir(t);
  const elsewhere = await tempDir(t);
  await symlink(elsewhere, join(workspace, 'inbox'));
  await assert.rejects(
    saveToInbox({ workspace, name: NAME, source: chunks('x'), maxBytes: 10 }),
    (error) => error instanceof InboxRefused && error.code === 'refused',
  );
  assert.deepEqual(await readdir(elsewhere), []);
});

test('an inbox that is a file is refused', async (t) => {
  const workspace = await tempDir(t);
  await writeFile(join(workspace, 'inbox'), 'not a dir');
  await assert.rejects(saveToInbox({ workspace, name: NAME, source: chunks('x'), maxBytes: 10 }), InboxRefused);
});

test('more than the cap: too_large, and the partial file is removed', async (t) => {
  const workspace = await tempDir(t);
  await assert.rejects(
    saveToInbox({ workspace, name: NAME, source: chunks('12345', '67890', 'X'), maxBytes: 10 }),
    (error) => error instanceof InboxRefused && error.code === 'too_large',
  );
  assert.deepEqual(await readdir(join(workspace, 'inbox')), []);
  const exact = await saveToInbox({ workspace, name: NAME, source: chunks('12345', '67890'), maxBytes: 10 });
  assert.equal(exact.size, 10);
});

test('a failing download removes the partial file and propagates', async (t) => {
  const workspace = await tempDir(t);
  async function* broken() {
    yield Buffer.from('part');
    throw new Error('media server went away');
  }
  await assert.rejects(saveToInbox({ workspace, name: NAME, source: broken(), maxBytes: 10 }), /went away/);
  assert.deepEqual(await readdir(join(workspace, 'inbox')), []);
});

test(
  'as root, a workspace of another account gets files it can read (fchown)',
  { skip: process.geteuid() !== 0 },
  async (t) => {
    const workspace = await tempDir(t);
    await chown(workspace, 4321, 4321);
    const saved = await saveToInbox({ workspace, name: NAME, source: chunks('x'), maxBytes: 10 });
    for (const path of ['inbox', saved.path]) {
      const info = await stat(join(workspace, path));
      assert.deepEqual([info.uid, info.gid], [4321, 4321], path);
    }
  },
);

test('names: only A-Z a-z 0-9 - from the sender, an allowlisted extension', () => {
  assert.equal(
    inboxName({ chat: '../../etc@g.us', messageId: 'a/b c', kind: 'document', extension: 'pdf' }),
    'whatsapp-______etc-a_b_c-document.pdf',
  );
  assert.equal(extensionFor('photo', 'image/png', 'x.exe'), 'jpg');
  assert.equal(extensionFor('document', 'application/pdf', 'report.PDF'), 'pdf');
  assert.equal(extensionFor('document', 'application/pdf', 'evil.sh'), 'pdf');
  assert.equal(extensionFor('document', 'application/x-sh', 'evil.sh'), 'bin');
  assert.equal(extensionFor('voice', 'audio/ogg; codecs=opus', null), 'ogg');
  assert.equal(extensionFor('video', 'weird', null), 'mp4');
  assert.equal(mimeForFile('photo', 'a.png'), 'image/png');
  assert.equal(mimeForFile('document', 'a.unknown'), 'application/octet-stream');
  assert.equal(mimeForFile('voice', 'a.mp3'), 'audio/ogg; codecs=opus');
});
