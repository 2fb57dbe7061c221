import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseBridgeArgs, parseListen } from '../lib/args.mjs';
import { ConfigError } from '../lib/errors.mjs';

const BASE = [
  '--secret-file',
  '/bot/state/secret',
  '--auth-dir',
  '/bot/state/auth',
  '--state-dir',
  '/bot/state/pending',
  '--workspace',
  '/bot/workspace',
  '--qr-png',
  '/bot/whatsapp-qr.png',
  '--max-file-bytes',
  '20971520',
];

const refused = (argv, pattern) =>
  assert.throws(
    () => parseBridgeArgs(argv),
    (error) => error instanceof ConfigError && pattern.test(error.message),
  );

test('a full command line is parsed', () => {
  const options = parseBridgeArgs(['--listen', 'unix:/bot/state/whatsapp-bridge.sock', ...BASE]);
  assert.deepEqual(options, {
    listen: { kind: 'unix', path: '/bot/state/whatsapp-bridge.sock' },
    tls: null,
    secretFile: '/bot/state/secret',
    authDir: '/bot/state/auth',
    stateDir: '/bot/state/pending',
    workspace: '/bot/workspace',
    qrPng: '/bot/whatsapp-qr.png',
    maxFileBytes: 20971520,
  });
  assert.ok(Object.isFrozen(options));
});

test('loopback ws:// only: 127.0.0.1 and [::1]', () => {
  assert.deepEqual(parseListen('ws://127.0.0.1:8765', null), { kind: 'ws', host: '127.0.0.1', port: 8765 });
  assert.deepEqual(parseListen('ws://[::1]:8765/', null), { kind: 'ws', host: '::1', port: 8765 });
  for (const listen of [
    'ws://0.0.0.0:8765',
    'ws://192.168.1.2:8765',
    'ws://[::]:8765',
    'ws://localhost:8765',
    'ws://example.com:80',
  ]) {
    assert.throws(() => parseListen(listen, null), /plain ws:\/\/ is for loopback only/, listen);
  }
});

test('wss:// any host, only with both TLS files; TLS files only with wss://', () => {
  const tls = { cert: '/c.pem', key: '/k.pem' };
  assert.deepEqual(parseListen('wss://0.0.0.0:8443', tls), { kind: 'wss', host: '0.0.0.0', port: 8443 });
  assert.deepEqual(parseListen('wss://[2001:db8::1]:8443', tls), { kind: 'wss', host: '2001:db8::1', port: 8443 });
  assert.throws(() => parseListen('wss://0.0.0.0:8443', null), /needs both --tls-cert and --tls-key/);
  refused(['--listen', 'wss://0.0.0.0:8443', ...BASE, '--tls-cert', '/c.pem'], /--tls-key is missing/);
  refused(['--listen', 'ws://127.0.0.1:8765', ...BASE, '--tls-cert', '/c', '--tls-key', '/k'], /only for wss/);
  refused(['--listen', 'unix:/x.sock', ...BASE, '--tls-cert', '/c', '--tls-key', '/k'], /only for wss/);
  const options = parseBridgeArgs([
    '--listen',
    'wss://bridge.example:8443',
    ...BASE,
    '--tls-cert',
    '/c.pem',
    '--tls-key',
    '/k.pem',
  ]);
  assert.deepEqual(options.tls, tls);
});

test('malformed listen addresses are refused', () => {
  for (const listen of [
    'unix:relative.sock',
    `unix:/${'x'.repeat(120)}.sock`,
    'tcp://127.0.0.1:1',
    'ws://127.0.0.1',
    'ws://127.0.0.1:0',
    'ws://127.0.0.1:65536',
    'ws://user@127.0.0.1:1',
    'ws://127.0.0.1:1/path',
    'http://127.0.0.1:1',
  ]) {
    assert.throws(() => parseListen(listen, null), ConfigError, listen);
  }
});

test('missing, unknown, empty options and bad sizes are refused', () => {
  refused(BASE, /missing option\(s\): --listen/);
  refused(
    ['--listen', 'unix:/x.sock'],
    /--secret-file, --auth-dir, --state-dir, --workspace, --qr-png, --max-file-bytes/,
  );
  refused(['--listen', 'unix:/x.sock', ...BASE, '--verbose'], /Unknown option '--verbose'/);
  refused(['--listen', 'unix:/x.sock', ...BASE, 'extra'], /positional/);
  refused(['--listen', 'unix:/x.sock', ...BASE.slice(0, -2), '--max-file-bytes', '0'], /from 1 to 104857600/);
  refused(['--listen', 'unix:/x.sock', ...BASE.slice(0, -2), '--max-file-bytes', '104857601'], /from 1 to/);
  refused(['--listen', 'unix:/x.sock', ...BASE.slice(0, -2), '--max-file-bytes', '1e6'], /from 1 to/);
  refused(['--listen', 'unix:/x.sock', ...BASE.slice(2), '--secret-file', ''], /must not be empty/);
});
