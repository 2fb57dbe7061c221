import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { ConfigError } from '../lib/errors.mjs';
import { readSecretFile } from '../lib/secret.mjs';
import { tempDir } from './helpers.mjs';

const HEX = 'ab'.repeat(32);

async function secretFile(t, content, mode = 0o600) {
  const path = join(await tempDir(t), 'secret');
  await writeFile(path, content, { mode });
  await chmod(path, mode);
  return path;
}

function refusedWith(path, pattern) {
  assert.throws(
    () => readSecretFile(path),
    (error) => error instanceof ConfigError && pattern.test(error.message) && !error.message.includes(HEX),
  );
}

test('64 lowercase hex characters, with or without a newline, are the 32-byte key', async (t) => {
  assert.deepEqual(readSecretFile(await secretFile(t, HEX)), Buffer.alloc(32, 0xab));
  assert.deepEqual(readSecretFile(await secretFile(t, `${HEX}\n`)), Buffer.alloc(32, 0xab));
  assert.deepEqual(readSecretFile(await secretFile(t, HEX, 0o400)), Buffer.alloc(32, 0xab));
});

test('a secret file readable or writable by group or others is refused', async (t) => {
  for (const mode of [0o640, 0o604, 0o620, 0o644, 0o666]) {
    refusedWith(await secretFile(t, HEX, mode), /accessible by group or others .*chmod 600/);
  }
});

test('a symlink to a good secret file is refused, not followed', async (t) => {
  const target = await secretFile(t, HEX);
  const link = join(await tempDir(t), 'link');
  await symlink(target, link);
  refusedWith(link, /is a symlink/);
});

test('a directory, a FIFO, a missing file are refused (the FIFO without blocking)', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'adir'), { mode: 0o700 });
  refusedWith(join(dir, 'adir'), /not a regular file/);
  execFileSync('mkfifo', ['-m', '600', join(dir, 'fifo')]);
  refusedWith(join(dir, 'fifo'), /not a regular file/);
  refusedWith(join(dir, 'missing'), /does not exist/);
});

test('anything but 64 lowercase hex characters is refused without echoing the content', async (t) => {
  for (const content of [
    HEX.toUpperCase(),
    HEX.slice(2),
    `${HEX}00`,
    `${HEX}\n\n`,
    ` ${HEX}`,
    `${HEX}\r\n`,
    '',
    'zz'.repeat(32),
  ]) {
    refusedWith(await secretFile(t, content), /must hold exactly 64 lowercase hex characters/);
  }
});
