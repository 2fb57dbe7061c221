/**
 * The bridge's command line, parsed and checked before anything starts.
 *
 * `parseBridgeArgs(argv)` accepts exactly the options of the protocol's command line and
 * returns a frozen options object; anything else (an unknown option, a missing one, a
 * listen address that is neither a Unix socket nor loopback `ws://` nor `wss://` with a
 * certificate and key, a size out of range) raises ConfigError with one clear sentence.
 *
 * Listen addresses:
 *   unix:/abs/path.sock        -> { kind: 'unix', path }
 *   ws://127.0.0.1:PORT         -> { kind: 'ws', host: '127.0.0.1', port }
 *   ws://[::1]:PORT             -> { kind: 'ws', host: '::1', port }
 *   wss://HOST:PORT             -> { kind: 'wss', host, port } (needs --tls-cert and --tls-key)
 */
import { isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { ConfigError } from './errors.mjs';

export const MAX_FILE_BYTES_LIMIT = 100 * 1024 * 1024; // the gateway's own cap on max_file_bytes
const UNIX_PATH_MAX = 107; // sun_path holds 108 bytes including the terminating NUL
const LOOPBACK_HOSTS = new Map([
  ['127.0.0.1', '127.0.0.1'],
  ['[::1]', '::1'],
]);
const URL_FORM = /^(ws|wss):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})\/?$/;
const DIGITS = /^[0-9]+$/;

const OPTIONS = {
  listen: { type: 'string' },
  'secret-file': { type: 'string' },
  'auth-dir': { type: 'string' },
  'state-dir': { type: 'string' },
  workspace: { type: 'string' },
  'qr-png': { type: 'string' },
  'max-file-bytes': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
};
const REQUIRED = ['listen', 'secret-file', 'auth-dir', 'state-dir', 'workspace', 'qr-png', 'max-file-bytes'];

/** The checked options of `argv` (the arguments after the script). Raises ConfigError. */
export function parseBridgeArgs(argv) {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ConfigError(error.message);
  }
  const missing = REQUIRED.filter((name) => values[name] === undefined);
  if (missing.length > 0) {
    throw new ConfigError(`missing option(s): ${missing.map((name) => `--${name}`).join(', ')}`);
  }
  for (const [name, value] of Object.entries(values)) {
    if (value === '' || value.includes('\0')) {
      throw new ConfigError(`--${name} must not be empty or contain NUL`);
    }
  }
  const tls =
    values['tls-cert'] === undefined && values['tls-key'] === undefined
      ? null
      : { cert: tlsPath(values['tls-cert'], 'tls-cert'), key: tlsPath(values['tls-key'], 'tls-key') };
  return Object.freeze({
    listen: parseListen(values.listen, tls),
    tls: tls && Object.freeze(tls),
    secretFile: resolve(values['secret-file']),
    authDir: resolve(values['auth-dir']),
    stateDir: resolve(values['state-dir']),
    workspace: resolve(values.workspace),
    qrPng: resolve(values['qr-png']),
    maxFileBytes: parseMaxFileBytes(values['max-file-bytes']),
  });
}

/**
 * The listen address `value` as `{ kind, path }` or `{ kind, host, port }`. `tls` is the
 * `{ cert, key }` pair or null; it is required by wss:// and refused with anything else.
 */
export function parseListen(value, tls) {
  if (value.startsWith('unix:')) {
    const path = value.slice('unix:'.length);
    if (!isAbsolute(path)) {
      throw new ConfigError(`--listen ${value}: the Unix socket path must be absolute`);
    }
    if (Buffer.byteLength(path) > UNIX_PATH_MAX) {
      throw new ConfigError(`--listen ${value}: the path is longer than ${UNIX_PATH_MAX} bytes (a Unix socket limit)`);
    }
    refuseTls(tls, value);
    return Object.freeze({ kind: 'unix', path: resolve(path) });
  }
  const match = URL_FORM.exec(value);
  if (match === null) {
    throw new ConfigError(
      `--listen ${value}: expected unix:/abs/path.sock, ws://127.0.0.1:PORT, ws://[::1]:PORT or wss://HOST:PORT`,
    );
  }
  const [, scheme, host, portText] = match;
  const port = Number(portText);
  if (port < 1 || port > 65535) {
    throw new ConfigError(`--listen ${value}: the port must be between 1 and 65535`);
  }
  if (scheme === 'ws') {
    if (!LOOPBACK_HOSTS.has(host)) {
      throw new ConfigError(
        `refusing to listen on ${value}: plain ws:// is for loopback only (127.0.0.1 or [::1]); ` +
          'use unix:/path, or wss://HOST:PORT with --tls-cert and --tls-key',
      );
    }
    refuseTls(tls, value);
    return Object.freeze({ kind: 'ws', host: LOOPBACK_HOSTS.get(host), port });
  }
  if (tls === null) {
    throw new ConfigError(`--listen ${value}: wss:// needs both --tls-cert and --tls-key`);
  }
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  return Object.freeze({ kind: 'wss', host: bare, port });
}

function refuseTls(tls, value) {
  if (tls !== null) {
    throw new ConfigError(`--tls-cert and --tls-key are only for wss:// (not ${value})`);
  }
}

function tlsPath(value, name) {
  if (value === undefined) {
    throw new ConfigError(`--tls-cert and --tls-key go together: --${name} is missing`);
  }
  return resolve(value);
}

function parseMaxFileBytes(value) {
  const number = DIGITS.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < 1 || number > MAX_FILE_BYTES_LIMIT) {
    throw new ConfigError(`--max-file-bytes ${value}: expected an integer from 1 to ${MAX_FILE_BYTES_LIMIT}`);
  }
  return number;
}
