/**
 * The frames after authentication: what a client may send, checked field by field, and the
 * encoding of what the bridge sends, kept under the frame cap.
 *
 * `parseClientFrame(text)` returns one of
 *   { type: 'ack', id }
 *   { type: 'fetch_media', requestId, id }
 *   { type: 'send', requestId, to, text, replyTo }
 *   { type: 'send_media', requestId, to, path, caption, kind }
 * or raises FrameError carrying the protocol error code (`bad_request`, `unknown_type`) and
 * the request id when one could be read. Unknown keys and ill-typed fields are refused:
 * nothing half-understood is acted on.
 */
import { isPlainObject } from './handshake.mjs';

export const MAX_FRAME_BYTES = 262_144; // 256 KiB, both directions
export const MAX_REQUEST_ID_CHARS = 64;
export const MAX_TEXT_CHARS = 65_536;
export const MAX_ID_CHARS = 128;
export const MAX_PATH_CHARS = 4096;
export const MEDIA_KINDS = Object.freeze(['photo', 'document', 'voice', 'audio', 'video']);
export const TRUNCATION_MARK = '\n[truncated by the bridge]';

const JID = /^(?:[0-9]{1,20}@s\.whatsapp\.net|[0-9]{1,20}@lid|[0-9]{1,20}(?:-[0-9]{1,20})?@g\.us)$/;
const FIELDS = {
  ack: { required: ['type', 'id'], optional: [] },
  fetch_media: { required: ['type', 'request_id', 'id'], optional: [] },
  send: { required: ['type', 'request_id', 'to', 'text'], optional: ['reply_to'] },
  send_media: { required: ['type', 'request_id', 'to', 'path', 'kind'], optional: ['caption'] },
};

/** A client frame the bridge cannot act on: `code` is the protocol error code. */
export class FrameError extends Error {
  constructor(code, message, requestId = null) {
    super(message);
    this.name = 'FrameError';
    this.code = code;
    this.requestId = requestId;
  }
}

/** True for a full JID the bridge may send to: digits@s.whatsapp.net, digits@lid or a group. */
export function isSendableJid(value) {
  return typeof value === 'string' && JID.test(value);
}

/** The checked request in the text frame `text` (see the module doc). Raises FrameError. */
export function parseClientFrame(text) {
  let frame;
  try {
    frame = JSON.parse(text);
  } catch {
    throw new FrameError('bad_request', 'the frame is not valid JSON');
  }
  if (!isPlainObject(frame) || typeof frame.type !== 'string') {
    throw new FrameError('bad_request', 'a frame is a JSON object with a string "type"');
  }
  if (!Object.hasOwn(FIELDS, frame.type)) {
    throw new FrameError('unknown_type', `unknown frame type ${JSON.stringify(frame.type.slice(0, 64))}`);
  }
  const fields = FIELDS[frame.type];
  const requestId = frame.type === 'ack' ? null : readRequestId(frame);
  const allowed = new Set([...fields.required, ...fields.optional]);
  const extra = Object.keys(frame).filter((key) => !allowed.has(key));
  if (extra.length > 0) {
    const names = extra.slice(0, 5).map((key) => JSON.stringify(key.slice(0, 64)));
    throw new FrameError('bad_request', `unknown field(s) in ${frame.type}: ${names.join(', ')}`, requestId);
  }
  const missing = fields.required.filter((key) => !Object.hasOwn(frame, key));
  if (missing.length > 0) {
    throw new FrameError('bad_request', `missing field(s) in ${frame.type}: ${missing.join(', ')}`, requestId);
  }
  if (frame.type === 'ack') {
    return { type: 'ack', id: boundedString(frame, 'id', MAX_ID_CHARS, null) };
  }
  if (frame.type === 'fetch_media') {
    return { type: 'fetch_media', requestId, id: boundedString(frame, 'id', MAX_ID_CHARS, requestId) };
  }
  const to = frame.to;
  if (!isSendableJid(to)) {
    throw new FrameError(
      'bad_request',
      '"to" must be a full JID: digits@s.whatsapp.net, digits@lid or a group ...@g.us',
      requestId,
    );
  }
  if (frame.type === 'send') {
    return {
      type: 'send',
      requestId,
      to,
      text: boundedString(frame, 'text', MAX_TEXT_CHARS, requestId),
      replyTo: nullableString(frame, 'reply_to', MAX_ID_CHARS, requestId),
    };
  }
  if (!MEDIA_KINDS.includes(frame.kind)) {
    throw new FrameError('bad_request', `"kind" must be one of ${MEDIA_KINDS.join(', ')}`, requestId);
  }
  return {
    type: 'send_media',
    requestId,
    to,
    path: boundedString(frame, 'path', MAX_PATH_CHARS, requestId),
    caption: nullableString(frame, 'caption', MAX_TEXT_CHARS, requestId),
    kind: frame.kind,
  };
}

/** `{"type":"error",...}` for `requestId` (or null). */
export function errorFrame(requestId, code, message) {
  return { type: 'error', request_id: requestId, code, message: String(message).slice(0, 1000) };
}

/** `{"type":"media",...}`: the answer to fetch_media `requestId` for message `id`. */
export function mediaFrame(requestId, id, media) {
  return { type: 'media', request_id: requestId, id, media };
}

/**
 * The JSON text of `frame`. Raises RangeError when it is over the frame cap: every frame the
 * bridge builds is bounded (messages through `fitMessageFrame`), so this is a bug guard.
 */
export function encodeFrame(frame) {
  const text = JSON.stringify(frame);
  if (Buffer.byteLength(text, 'utf8') > MAX_FRAME_BYTES) {
    throw new RangeError(`a ${frame.type} frame is over ${MAX_FRAME_BYTES} bytes`);
  }
  return text;
}

/**
 * `frame` (a `message` frame) with its text shortened, and marked with TRUNCATION_MARK, so
 * that its JSON fits the frame cap; the frame itself when it already fits. Keeps the longest
 * prefix that fits (a binary search: the JSON size grows with the prefix), never splitting a
 * surrogate pair. Raises RangeError when even the empty text does not fit.
 */
export function fitMessageFrame(frame) {
  if (jsonBytes(frame) <= MAX_FRAME_BYTES) {
    return frame;
  }
  const truncated = (kept) => {
    const end = kept > 0 && isHighSurrogate(frame.text.charCodeAt(kept - 1)) ? kept - 1 : kept;
    return { ...frame, text: frame.text.slice(0, end) + TRUNCATION_MARK };
  };
  if (jsonBytes(truncated(0)) > MAX_FRAME_BYTES) {
    throw new RangeError('a message frame is over the cap without any text');
  }
  let fits = 0;
  let tooBig = frame.text.length;
  while (tooBig - fits > 1) {
    const middle = Math.floor((fits + tooBig) / 2);
    if (jsonBytes(truncated(middle)) <= MAX_FRAME_BYTES) fits = middle;
    else tooBig = middle;
  }
  return truncated(fits);
}

function readRequestId(frame) {
  const value = frame.request_id;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_REQUEST_ID_CHARS) {
    throw new FrameError('bad_request', `"request_id" must be a string of 1 to ${MAX_REQUEST_ID_CHARS} characters`);
  }
  return value;
}

function boundedString(frame, key, maxChars, requestId) {
  const value = frame[key];
  if (typeof value !== 'string' || value.length === 0 || value.length > maxChars) {
    throw new FrameError(
      'bad_request',
      `"${key}" must be a non-empty string of at most ${maxChars} characters`,
      requestId,
    );
  }
  return value;
}

/** The field `key` when a non-empty string; null when absent, null or "" (no caption, no quote). */
function nullableString(frame, key, maxChars, requestId) {
  const value = frame[key];
  if (value === undefined || value === null || value === '') {
    return null;
  }
  return boundedString(frame, key, maxChars, requestId);
}

function jsonBytes(value) {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

function isHighSurrogate(code) {
  return code >= 0xd800 && code <= 0xdbff;
}
