/**
 * What the bridge needs from a WhatsApp session: the seam between the protocol (server,
 * service) and Baileys (whatsapp.mjs), so that the protocol is tested with a stub.
 *
 * A session is an EventEmitter with:
 *   status()                 -> { state, detail }: the last status; `state` is one of
 *                               connecting, qr, open, logged_out, closed
 *   connected                -> boolean: true while WhatsApp is open (sending is possible)
 *   sendText({ to, text, replyTo })                           -> Promise<message id>
 *   sendMedia({ to, kind, data, mimeType, fileName, caption }) -> Promise<message id>
 *   fetchMedia({ id, chat, source })
 *                            -> Promise<[{ kind, path, mime_type, size } | { kind, error }]>:
 *                               downloads the media of the message `source` describes into
 *                               the workspace inbox (one entry per media: the saved file, or
 *                               why it was not saved); raises when `source` is unusable
 *   start()                  begin connecting (after the listeners are in place)
 *   close()                  -> Promise: stop for good (no reconnect)
 * and the events
 *   'message' (frame, source) a protocol `message` frame (its media described, nothing
 *                            downloaded) and, when it lists media, `source`: a string the
 *                            session can download them from later (`fetchMedia`), to be kept
 *                            with the frame until it is acknowledged; else null
 *   'status' ({ state, detail })
 *   'qr' ({ qr, png })       the QR payload and the PNG written (or null)
 *   'fatal' (error)          the session cannot go on (the bridge exits 1)
 * The send methods raise NotConnected when WhatsApp is not open; any other error is a send
 * that failed.
 */
/** Raised by a session's send methods while WhatsApp is not open. */
export class NotConnected extends Error {
  constructor(message = 'WhatsApp is not connected') {
    super(message);
    this.name = 'NotConnected';
  }
}

/** The protocol's `status` frame for a session status. */
export function statusFrame({ state, detail }) {
  return { type: 'status', state, detail: String(detail ?? '').slice(0, 1000) };
}

/** The protocol's `qr` frame. */
export function qrFrame({ qr, png }) {
  return { type: 'qr', qr, png: png ?? null };
}
