import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { authenticated, connect, startTestBridge, tempDir } from './helpers.mjs';

function hasOpenssl() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('loopback ws:// over TCP: the same handshake', async (t) => {
  const bridge = await startTestBridge(t, { listen: { kind: 'ws', host: '127.0.0.1', port: 0 } });
  const { welcome, status } = await authenticated(bridge);
  assert.equal(welcome.type, 'welcome');
  assert.equal(status.type, 'status');
  assert.equal(await connect(bridge, { headers: { Origin: 'http://127.0.0.1' } }).response, 403);
});

test(
  'wss:// with a certificate: TLS, then the same handshake',
  { skip: !hasOpenssl() && 'openssl is not installed' },
  async (t) => {
    const dir = await tempDir(t);
    const certPath = join(dir, 'cert.pem');
    const keyPath = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        keyPath,
        '-out',
        certPath,
      ],
      { stdio: 'ignore' },
    );
    const cert = await readFile(certPath);
    const bridge = await startTestBridge(t, {
      listen: { kind: 'wss', host: '127.0.0.1', port: 0 },
      tls: { cert, key: await readFile(keyPath) },
    });
    const { welcome } = await authenticated(bridge, { ca: cert });
    assert.equal(welcome.type, 'welcome');
    // A client that does not trust the certificate never gets a challenge.
    const untrusting = connect(bridge);
    const { code } = await untrusting.closed;
    assert.equal(code, 1006);
  },
);
