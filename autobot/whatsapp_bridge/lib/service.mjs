/**
 * The protocol after authentication: what the bridge does for its one client.
 *
 * `BridgeService` owns the link between the WhatsApp session, the pending store, the outcome
 * log and the authenticated client (a `{ send(frame) }` object the server gives it; `send` on
 * a closed client does nothing). It
 * - keeps every received message with its media source (pending store, written before it is
 *   sent) and sends it to the client, or keeps it for the next one; nothing is downloaded;
 * - on `attach` (after a welcome) sends the session's status, then every unacknowledged
 *   message, oldest first, each once; only then are new messages sent live (one delivery
 *   queue: a message kept before the redelivery runs is sent by it, not twice);
 * - forwards `status` and `qr` events;
 * - answers `fetch_media` for a kept message by downloading its media into the workspace
 *   inbox (the session's `fetchMedia`, one download at a time; requests for a message being
 *   downloaded share that download) with one `media` frame (a saved file or the reason per
 *   media), or `error` `unknown_message` for a message it does not keep (acknowledged,
 *   dropped, never received);
 * - answers every `send` / `send_media` with exactly one `sent` or `error` frame, through the
 *   outcome log: a request id answered before is answered the same way without sending again
 *   (outcomes.mjs); `send_media` one at a time, through the workspace path check (paths.mjs)
 *   and the file size cap;
 * - at most MAX_IN_FLIGHT requests (of any kind) per client at once (more: `busy`);
 * - forgets a message (and its media source) on `ack`.
 * Bad frames get an `error` frame (`bad_request`, `unknown_type`) and change nothing.
 */
import { basename } from 'node:path';

import { FrameError, errorFrame, fitMessageFrame, mediaFrame, parseClientFrame } from './frames.mjs';
import { mimeForFile } from './media.mjs';
import { requestDigest } from './outcomes.mjs';
import { PathRefused, readWorkspaceFile } from './paths.mjs';
import { NotConnected, qrFrame, statusFrame } from './session.mjs';

export const MAX_IN_FLIGHT = 32;

export class BridgeService {
  #session;
  #pending;
  #outcomes;
  #workspace;
  #maxFileBytes;
  #log;
  #client = null; // the authenticated client
  #caughtUp = null; // the client once it has been sent every kept message: it gets new ones live
  #deliveries = Promise.resolve(); // received messages and redeliveries, in order
  #media = Promise.resolve(); // send_media requests, one at a time
  #fetches = Promise.resolve(); // fetch_media downloads, one at a time
  #downloading = new Map(); // message id -> the entries of its download in progress
  #inFlight = new WeakMap(); // client -> requests not yet answered

  /**
   * `session` (see session.mjs), `pending` (a PendingStore), `outcomes` (an OutcomeLog),
   * `workspace` (directory path), `maxFileBytes` (send_media cap), `log(level, text)`.
   */
  constructor({ session, pending, outcomes, workspace, maxFileBytes, log }) {
    this.#session = session;
    this.#pending = pending;
    this.#outcomes = outcomes;
    this.#workspace = workspace;
    this.#maxFileBytes = maxFileBytes;
    this.#log = log;
    session.on('message', (frame, source) => this.#received(frame, source ?? null));
    session.on('status', (status) => this.#client?.send(statusFrame(status)));
    session.on('qr', (qr) => this.#client?.send(qrFrame(qr)));
  }

  /** `client` is now the authenticated client: status, then redelivery of what is kept. */
  attach(client) {
    this.#client = client;
    this.#caughtUp = null;
    client.send(statusFrame(this.#session.status()));
    this.#queueDelivery(async () => {
      for await (const frame of this.#pending.frames()) {
        if (this.#client !== client) {
          return;
        }
        client.send(frame);
      }
      this.#caughtUp = client;
    });
  }

  /** `client` is gone (closed or replaced). */
  detach(client) {
    if (this.#client === client) {
      this.#client = null;
      this.#caughtUp = null;
    }
  }

  /** Resolves once every delivery queued so far is done (shutdown, tests). */
  async settled() {
    await this.#deliveries;
  }

  /** Act on the text frame `text` from the authenticated `client`. */
  async handle(client, text) {
    let request;
    try {
      request = parseClientFrame(text);
    } catch (error) {
      if (!(error instanceof FrameError)) {
        throw error;
      }
      client.send(errorFrame(error.requestId, error.code, error.message));
      return;
    }
    if (request.type === 'ack') {
      await this.#pending.ack(request.id);
      return;
    }
    const inFlight = this.#inFlight.get(client) ?? 0;
    if (inFlight >= MAX_IN_FLIGHT) {
      client.send(errorFrame(request.requestId, 'busy', `more than ${MAX_IN_FLIGHT} requests in flight`));
      return;
    }
    this.#inFlight.set(client, inFlight + 1);
    try {
      client.send(request.type === 'fetch_media' ? await this.#fetchMedia(request) : await this.#answerSend(request));
    } finally {
      this.#inFlight.set(client, this.#inFlight.get(client) - 1);
    }
  }

  /** The `sent` or `error` answer to a send request, at most one real send per request id. */
  #answerSend(request) {
    const perform = async () => {
      try {
        const id = request.type === 'send' ? await this.#sendText(request) : await this.#sendMedia(request);
        return { type: 'sent', request_id: request.requestId, id };
      } catch (error) {
        return this.#failure(request, error);
      }
    };
    const unrecorded = (error) => {
      this.#log('error', `the outcome of ${request.requestId} was not written (${error.message}): kept in memory`);
    };
    return this.#outcomes.answer(request.requestId, requestDigest(request), perform, unrecorded);
  }

  /** The `media` answer (or `error`) to fetch_media: the kept message's media, downloaded now. */
  async #fetchMedia({ requestId, id }) {
    const record = await this.#pending.record(id).catch((error) => {
      this.#log('error', `kept message ${id} cannot be read: ${error.message}`);
      return null;
    });
    if (record === null) {
      return errorFrame(requestId, 'unknown_message', `no usable unacknowledged message ${id}`);
    }
    return mediaFrame(requestId, id, await this.#download(record));
  }

  /**
   * The `media` entries of a kept message: its media downloaded (one download at a time; a
   * message already being downloaded, for an earlier request, is not downloaded twice: both
   * get that download's entries), or the reason for each media.
   */
  #download({ frame, source }) {
    const unsaved = (reason) => frame.media.map(({ kind }) => ({ kind, error: reason }));
    if (frame.media.length === 0) {
      return [];
    }
    if (source === null) {
      return unsaved('the message was not kept in a form its media can be fetched from');
    }
    const running = this.#downloading.get(frame.id);
    if (running !== undefined) {
      return running;
    }
    const work = this.#fetches.then(() => this.#session.fetchMedia({ id: frame.id, chat: frame.chat, source }));
    this.#fetches = work.catch(() => {});
    const entries = work.catch((error) => {
      this.#log('warn', `the media of message ${frame.id} could not be fetched: ${error.message}`);
      return unsaved(`cannot be fetched: ${String(error.message).slice(0, 200)}`);
    });
    this.#downloading.set(frame.id, entries);
    entries.finally(() => this.#downloading.delete(frame.id));
    return entries;
  }

  #received(frame, source) {
    const fitted = fitMessageFrame(frame);
    this.#queueDelivery(async () => {
      let fresh = true;
      try {
        fresh = await this.#pending.add(fitted, source);
      } catch (error) {
        this.#log('error', `message ${fitted.id} could not be kept on disk (${error.message}): sent unprotected`);
      }
      if (fresh) {
        // Before the redelivery has run, the message is sent by it (it reads the store).
        this.#caughtUp?.send(fitted);
      }
    });
  }

  #queueDelivery(work) {
    this.#deliveries = this.#deliveries.then(work).catch((error) => {
      this.#log('error', `delivery failed: ${error.message}`);
    });
  }

  async #sendText({ to, text, replyTo }) {
    if (!this.#session.connected) {
      throw new NotConnected();
    }
    return this.#session.sendText({ to, text, replyTo });
  }

  #sendMedia({ to, path, caption, kind }) {
    const work = this.#media.then(async () => {
      if (!this.#session.connected) {
        throw new NotConnected();
      }
      const data = await readWorkspaceFile(this.#workspace, path, this.#maxFileBytes);
      const fileName = basename(path);
      const mimeType = mimeForFile(kind, fileName);
      return this.#session.sendMedia({ to, kind, data, mimeType, fileName, caption });
    });
    this.#media = work.catch(() => {});
    return work;
  }

  #failure(request, error) {
    if (error instanceof PathRefused) {
      return errorFrame(request.requestId, error.code, error.message);
    }
    if (error instanceof NotConnected) {
      return errorFrame(request.requestId, 'not_connected', error.message);
    }
    this.#log('warn', `${request.type} ${request.requestId} failed: ${error.message}`);
    return errorFrame(request.requestId, 'send_failed', `sending failed: ${error.message}`);
  }
}
