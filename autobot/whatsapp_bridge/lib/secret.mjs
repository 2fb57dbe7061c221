/**
 * The bridge secret file: 64 lowercase hex characters (32 random bytes) and an optional
 * trailing newline; the HMAC key is those 32 bytes.
 *
 * `readSecretFile` owns the checks that decide whether the file may be trusted: it is opened
 * with O_NOFOLLOW (a symlink is refused, never followed) and O_NONBLOCK (a FIFO cannot stall
 * the start), and the opened descriptor must be a regular file with no permission bit for
 * group or others (the file was written for this account alone). Every refusal is a
 * ConfigError naming the file and the fix; the key itself never appears in a message.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

import { modeOf } from './dirs.mjs';
import { ConfigError } from './errors.mjs';
import { KEY_BYTES } from './handshake.mjs';

const MAX_READ = KEY_BYTES * 2 + 2; // 64 hex + newline + 1: enough to see a longer file
const CONTENT = /^[0-9a-f]{64}\n?$/;

/** The 32-byte key held by the secret file at `path`. Raises ConfigError when refused. */
export function readSecretFile(path) {
  const fd = openSecret(path);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      throw new ConfigError(`secret file ${path} is not a regular file`);
    }
    if ((stat.mode & 0o077) !== 0) {
      throw new ConfigError(
        `secret file ${path} is accessible by group or others (mode ${modeOf(stat)}): run chmod 600 ${path}`,
      );
    }
    const buffer = Buffer.alloc(MAX_READ);
    let length = 0;
    let read;
    do {
      read = readSync(fd, buffer, length, MAX_READ - length, null);
      length += read;
    } while (read > 0 && length < MAX_READ);
    const text = buffer.subarray(0, length).toString('latin1');
    if (!CONTENT.test(text)) {
      throw new ConfigError(
        `secret file ${path} must hold exactly 64 lowercase hex characters (32 bytes) and at most a trailing newline`,
      );
    }
    return Buffer.from(text.slice(0, KEY_BYTES * 2), 'hex');
  } finally {
    closeSync(fd);
  }
}

function openSecret(path) {
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
  try {
    return openSync(path, flags);
  } catch (error) {
    if (error.code === 'ELOOP') {
      throw new ConfigError(`secret file ${path} is a symlink: refused (point --secret-file at the file itself)`);
    }
    if (error.code === 'ENOENT') {
      throw new ConfigError(`secret file ${path} does not exist`);
    }
    throw new ConfigError(`secret file ${path} cannot be opened: ${error.code ?? error.message}`);
  }
}
