import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { showQr } from '../lib/qr.mjs';
import { tempDir } from './helpers.mjs';

const PAYLOAD = '2@AbCdEfGhIjKlMnOpQrStUvWxYz0123456789,abcdefghijklmnop=,ABCDEFGHIJKLMNOP=,qrstuvwxyz0123456789=';

test('the QR code is printed as terminal art and written as a 0600 PNG', async (t) => {
  const dir = await tempDir(t);
  const pngPath = join(dir, 'whatsapp-qr.png');
  let printed = '';
  const logs = [];
  const png = await showQr(PAYLOAD, {
    stderr: { write: (text) => (printed += text) },
    pngPath,
    log: (...entry) => logs.push(entry),
  });
  assert.equal(png, pngPath);
  assert.match(printed, /Linked devices > Link a device/);
  assert.ok(printed.includes(pngPath));
  assert.ok(printed.includes('\u2580') || printed.includes('\u2584') || printed.includes('\u2588'), 'block art');
  assert.ok(!printed.includes(PAYLOAD), 'the payload itself is not printed');
  const data = await readFile(pngPath);
  assert.deepEqual([...data.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal((await stat(pngPath)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(dir), ['whatsapp-qr.png'], 'no temp file left');
  assert.deepEqual(logs, []);
});

test('a PNG that cannot be written is a warning; the terminal still shows the code', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'taken.png')); // a directory where the PNG should go
  let printed = '';
  const logs = [];
  const png = await showQr(PAYLOAD, {
    stderr: { write: (text) => (printed += text) },
    pngPath: join(dir, 'taken.png'),
    log: (level, text) => logs.push(`${level}: ${text}`),
  });
  assert.equal(png, null);
  assert.match(printed, /Link a device/);
  assert.equal(logs.length, 1);
  assert.match(logs[0], /^warn: the QR code PNG could not be written/);
  assert.deepEqual((await readdir(dir)).sort(), ['taken.png']);
});
