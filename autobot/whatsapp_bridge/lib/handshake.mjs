/**
 * The challenge-response of the protocol (version 2), as pure functions (no I/O, no clock).
 *
 * Owns the MAC construction (`HMAC-SHA256(key, "autobot-whatsapp-bridge/1\n<role>\n" + nonce +
 * "\n" + client_nonce + "\n" + resource)`: the label names the handshake, which is unchanged
 * since version 1, so its known-answer vector still holds), the frames of the handshake and the verdict on a
 * client's `auth` frame. The key is the 32 bytes of the secret file; it never leaves this
 * process. Comparisons are constant-time (`crypto.timingSafeEqual` on two 32-byte buffers);
 * anything that is not exactly 64 lowercase hex characters is refused before comparing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const PROTOCOL_VERSION = 2; // 2: media fetched on request (fetch_media)
export const AUTH_TIMEOUT_MS = 5000;
export const KEY_BYTES = 32;
export const NONCE_BYTES = 32;

/** Close codes of the handshake (and of a replaced client). */
export const CLOSE = Object.freeze({
  AUTH_FAILED: 4001,
  AUTH_TIMEOUT: 4002,
  PROTOCOL_ERROR: 4003,
  UNSUPPORTED_VERSION: 4004,
  REPLACED: 4009,
});

const DOMAIN = 'autobot-whatsapp-bridge/1';
const HEX64 = /^[0-9a-f]{64}$/;
const AUTH_KEYS = ['client_nonce', 'mac', 'type', 'version'];

/** True when `value` is a string of exactly 64 lowercase hex characters. */
function isHex64(value) {
  return typeof value === 'string' && HEX64.test(value);
}

/**
 * The MAC (64 lowercase hex) one side proves itself with. `role` is "client" or "bridge";
 * `key` a 32-byte Buffer; `nonce` and `clientNonce` 64-hex strings; `resource` the request
 * path. Throws TypeError on a key of the wrong size or an unknown role.
 */
export function computeMac(key, role, nonce, clientNonce, resource) {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
    throw new TypeError(`the key must be a Buffer of ${KEY_BYTES} bytes`);
  }
  if (role !== 'client' && role !== 'bridge') {
    throw new TypeError(`unknown role ${JSON.stringify(role)}`);
  }
  const message = `${DOMAIN}\n${role}\n${nonce}\n${clientNonce}\n${resource}`;
  return createHmac('sha256', key).update(message, 'utf8').digest('hex');
}

/** True when `candidate` is 64 hex characters equal to `expectedHex`, compared in constant time. */
export function macMatches(expectedHex, candidate) {
  if (!isHex64(candidate) || !isHex64(expectedHex)) {
    return false;
  }
  return timingSafeEqual(Buffer.from(expectedHex, 'hex'), Buffer.from(candidate, 'hex'));
}

/** The first frame of a connection: `nonce` is 64 hex characters of fresh randomness. */
export function challengeFrame(nonce) {
  return { type: 'challenge', version: PROTOCOL_VERSION, nonce };
}

/** The bridge's proof, sent after a correct `auth`. */
export function welcomeFrame(key, nonce, clientNonce, resource) {
  return {
    type: 'welcome',
    version: PROTOCOL_VERSION,
    mac: computeMac(key, 'bridge', nonce, clientNonce, resource),
  };
}

/**
 * The verdict on the first frame a client sent (`frame`: the parsed JSON value, or undefined
 * when the text was not JSON). Returns `{ ok: true, clientNonce }` or `{ ok: false, code,
 * reason }` with the close code: not an `auth` frame -> 4003; a version other than PROTOCOL_VERSION -> 4004;
 * a malformed auth frame (missing, extra or ill-typed fields) or a wrong mac -> 4001.
 */
export function verifyAuth(frame, { key, nonce, resource }) {
  if (!isPlainObject(frame) || frame.type !== 'auth') {
    return refused(CLOSE.PROTOCOL_ERROR, 'protocol error');
  }
  if (frame.version !== PROTOCOL_VERSION) {
    return refused(CLOSE.UNSUPPORTED_VERSION, 'unsupported version');
  }
  const keys = Object.keys(frame).sort();
  const wellFormed =
    keys.length === AUTH_KEYS.length &&
    keys.every((name, index) => name === AUTH_KEYS[index]) &&
    isHex64(frame.client_nonce) &&
    isHex64(frame.mac);
  if (!wellFormed) {
    return refused(CLOSE.AUTH_FAILED, 'auth failed');
  }
  const expected = computeMac(key, 'client', nonce, frame.client_nonce, resource);
  if (!macMatches(expected, frame.mac)) {
    return refused(CLOSE.AUTH_FAILED, 'auth failed');
  }
  return { ok: true, clientNonce: frame.client_nonce };
}

/** True for a JSON object (not null, not an array). */
export function isPlainObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refused(code, reason) {
  return { ok: false, code, reason };
}
