/**
 * The WhatsApp Web session, through Baileys: the only module that imports it.
 *
 * `openWhatsAppSession(options)` returns a session (see session.mjs) that owns the Baileys
 * socket and its life:
 * - session credentials in `authDir` (Baileys' multi-file auth state; the process umask 077
 *   makes them 0600 in a 0700 directory);
 * - while the phone is not linked, each QR code is shown (qr.mjs: stderr and `qrPng`) and a
 *   `qr` event carries the payload and the PNG path; once linked, the PNG is removed;
 * - reconnects after any close with exponential backoff and full jitter (backoff.mjs), at
 *   once when WhatsApp asks for a restart; a logout (401) is final: status `logged_out`;
 * - received messages (`notify` upserts only: no history) become protocol frames
 *   (normalize.mjs), in arrival order, at once: their media is only described. A message
 *   with media comes with its source, the Baileys message serialised with Baileys'
 *   BufferJSON (at most MAX_SOURCE_BYTES; a bigger one is logged and its media cannot be
 *   fetched);
 * - `fetchMedia` downloads the media of such a source when the gateway asks for it (after
 *   its access decision): only from a checked whatsapp.net location, at most
 *   `maxFileBytes`, within DOWNLOAD_TIMEOUT_MS, into the workspace inbox (inbox.mjs, under
 *   a name made from the message, so fetching again replaces the file); a media that cannot
 *   be saved is logged and answered with the reason;
 * - sends text (no link preview: the bridge fetches no URL a message names) and media
 *   (no thumbnail generation: no image library runs on workspace files), quoting a recent
 *   received message when asked. A caption that must follow an audio as its own message and
 *   fails is logged: the audio went out, so the request is not failed (a retry would send
 *   the audio twice).
 * Logs carry no message content, key or QR payload.
 */
import { EventEmitter } from 'node:events';
import { unlink } from 'node:fs/promises';

import { reconnectDelayMs } from './backoff.mjs';
import { saveToInbox } from './inbox.mjs';
import { extensionFor } from './media.mjs';
import { botJids, describeMessage, mediaOf } from './normalize.mjs';
import { showQr } from './qr.mjs';
import { NotConnected } from './session.mjs';

export const DOWNLOAD_TIMEOUT_MS = 120_000;
export const MAX_SOURCE_BYTES = 1 << 20; // a kept Baileys message (thumbnails included); far above a real one
const RECENT_LIMIT = 256; // received messages kept to quote, sent ones kept for retries

/**
 * A session on Baileys; `options` are the bridge options plus `log`, `stderr` and optionally
 * `random` (jitter, default Math.random). `baileys` is the Baileys module, imported here
 * when not given (tests give a stand-in and never load Baileys).
 */
export async function openWhatsAppSession(options, baileys = null) {
  return new WhatsAppSession(options, baileys ?? (await import('@whiskeysockets/baileys')));
}

class WhatsAppSession extends EventEmitter {
  #options;
  #baileys;
  #random;
  #log;
  #logger;
  #sock = null;
  #status = { state: 'connecting', detail: 'starting' };
  #stopped = false;
  #attempt = 0;
  #timer = null;
  #received = Promise.resolve(); // messages in arrival order
  #recent = new Map(); // message id -> received WAMessage, to quote
  #sent = new Map(); // message id -> sent message content, for Baileys' retries

  constructor(options, baileys) {
    super();
    this.#options = options;
    this.#baileys = baileys;
    this.#random = options.random ?? Math.random;
    this.#log = options.log;
    this.#logger = baileysLogger(options.log);
  }

  status() {
    return this.#status;
  }

  get connected() {
    return this.#sock !== null && this.#status.state === 'open';
  }

  start() {
    this.#connect().catch((error) => this.emit('fatal', error));
  }

  async close() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const sock = this.#sock;
    this.#sock = null;
    sock?.end(undefined);
    await this.#received;
  }

  async sendText({ to, text, replyTo }) {
    const sock = this.#openSocket();
    const quoted = replyTo === null ? undefined : this.#recent.get(replyTo);
    const sent = await sock.sendMessage(to, { text, linkPreview: null }, quoted ? { quoted } : {});
    return this.#rememberSent(sent);
  }

  async sendMedia({ to, kind, data, mimeType, fileName, caption }) {
    const sock = this.#openSocket();
    const captioned = caption === null ? {} : { caption };
    const content = {
      photo: { image: data, mimetype: mimeType, jpegThumbnail: null, ...captioned },
      video: { video: data, mimetype: mimeType, jpegThumbnail: null, ...captioned },
      document: { document: data, mimetype: mimeType, fileName, ...captioned },
      audio: { audio: data, mimetype: mimeType },
      voice: { audio: data, mimetype: mimeType, ptt: true },
    }[kind];
    const id = this.#rememberSent(await sock.sendMessage(to, content));
    if (caption !== null && (kind === 'audio' || kind === 'voice')) {
      // WhatsApp audio has no caption: the text follows as its own message.
      try {
        this.#rememberSent(await sock.sendMessage(to, { text: caption, linkPreview: null }));
      } catch (error) {
        this.#log('warn', `the caption of ${kind} message ${id} was not sent: ${error.message}`);
      }
    }
    return id;
  }

  async fetchMedia({ id, chat, source }) {
    const { BufferJSON, normalizeMessageContent, proto } = this.#baileys;
    // BufferJSON gives back the bytes Baileys kept as Buffers; fromObject those the
    // protobuf message kept as base64 text (its own JSON form), and its 64-bit numbers.
    const raw = JSON.parse(source, BufferJSON.reviver);
    const media = mediaOf(normalizeMessageContent(proto.Message.fromObject(raw?.message ?? {})));
    if (media === null) {
      throw new Error('the kept message holds no media');
    }
    return [await this.#download({ id, chat }, media)];
  }

  #openSocket() {
    if (!this.connected) {
      throw new NotConnected();
    }
    return this.#sock;
  }

  #rememberSent(sent) {
    const id = sent?.key?.id;
    if (typeof id !== 'string') {
      throw new Error('WhatsApp returned no message id');
    }
    remember(this.#sent, id, sent.message);
    return id;
  }

  #setStatus(state, detail) {
    this.#status = { state, detail };
    this.#log('info', `whatsapp ${state}: ${detail}`);
    this.emit('status', this.#status);
  }

  async #connect() {
    if (this.#stopped) return;
    const { makeWASocket, makeCacheableSignalKeyStore, useMultiFileAuthState } = this.#baileys;
    const { state, saveCreds } = await useMultiFileAuthState(this.#options.authDir);
    if (this.#stopped) return; // closed while the credentials were read
    const sock = makeWASocket({
      auth: { creds: state.creds, keys: makeCacheableSignalKeyStore(state.keys, this.#logger) },
      logger: this.#logger,
      markOnlineOnConnect: false, // the phone keeps its notifications
      syncFullHistory: false, // history arrives as `append` upserts: never delivered
      generateHighQualityLinkPreview: false,
      getMessage: async (key) => this.#sent.get(key.id),
    });
    this.#sock = sock;
    this.#setStatus('connecting', 'connecting to WhatsApp');
    sock.ev.on('creds.update', saveCreds);
    sock.ev.on('connection.update', (update) => {
      this.#onConnection(sock, update).catch((error) => this.emit('fatal', error));
    });
    sock.ev.on('messages.upsert', ({ messages, type }) => {
      if (type !== 'notify') return;
      for (const message of messages) {
        this.#received = this.#received
          .then(() => this.#receive(sock, message))
          .catch((error) => this.#log('error', `a received message was not handled: ${error.message}`));
      }
    });
  }

  async #onConnection(sock, { connection, lastDisconnect, qr }) {
    if (sock !== this.#sock) return; // an old socket's last words
    if (typeof qr === 'string') {
      await this.#showQr(qr);
    }
    if (connection === 'open') {
      this.#attempt = 0;
      this.#setStatus('open', 'linked and connected');
      await unlink(this.#options.qrPng).catch(() => {});
    } else if (connection === 'close') {
      this.#sock = null;
      const { DisconnectReason } = this.#baileys;
      const code = lastDisconnect?.error?.output?.statusCode;
      const reason = String(lastDisconnect?.error?.message ?? 'no reason given').slice(0, 200);
      if (code === DisconnectReason.loggedOut) {
        this.#setStatus(
          'logged_out',
          `WhatsApp logged this device out: delete ${this.#options.authDir} and link the phone again`,
        );
        return;
      }
      if (this.#stopped) return;
      const delay = code === DisconnectReason.restartRequired ? 0 : reconnectDelayMs(this.#attempt++, this.#random);
      const seconds = Math.ceil(delay / 1000);
      this.#setStatus('closed', `connection closed (${code ?? 'no status'}: ${reason}); reconnecting in ${seconds} s`);
      this.#timer = setTimeout(() => this.start(), delay);
    }
  }

  async #showQr(qr) {
    const { stderr, qrPng, log } = this.#options;
    const png = await showQr(qr, { stderr, pngPath: qrPng, log });
    this.#setStatus('qr', 'waiting for the phone to link: scan the QR code');
    this.emit('qr', { qr, png });
  }

  async #receive(sock, message) {
    const frame = describeMessage(message, this.#baileys.normalizeMessageContent(message.message), {
      bots: botJids(sock.user),
      now: Date.now,
    });
    if (frame === null) return;
    remember(this.#recent, frame.id, message);
    this.emit('message', frame, frame.media.length > 0 ? this.#source(frame, message) : null);
  }

  /** `message` serialised for a later `fetchMedia`, or null (logged) when it cannot be kept. */
  #source(frame, message) {
    let source;
    try {
      source = JSON.stringify(message, this.#baileys.BufferJSON.replacer);
    } catch (error) {
      this.#log('warn', `message ${frame.id} cannot be kept for its media: ${error.message}`);
      return null;
    }
    if (Buffer.byteLength(source, 'utf8') > MAX_SOURCE_BYTES) {
      this.#log('warn', `message ${frame.id} is over ${MAX_SOURCE_BYTES} bytes: its media cannot be fetched`);
      return null;
    }
    return source;
  }

  /** The answer entry of `media` (of message `id` in `chat`): the saved file, or why not (logged). */
  async #download({ id, chat }, media) {
    const { workspace, maxFileBytes } = this.#options;
    const refuse = (reason) => {
      this.#log('warn', `the ${media.kind} of message ${id} was not saved: ${reason}`);
      return { kind: media.kind, error: reason };
    };
    if (media.location === null) {
      return refuse('it names no safe download location');
    }
    if (media.declaredSize !== null && media.declaredSize > maxFileBytes) {
      return refuse(`it is ${media.declaredSize} bytes, more than ${maxFileBytes}`);
    }
    let stream = null;
    let timer = null;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        const error = new Error(`not downloaded within ${DOWNLOAD_TIMEOUT_MS / 1000} s`);
        stream?.destroy(error);
        reject(error);
      }, DOWNLOAD_TIMEOUT_MS);
    });
    try {
      const { directPath, host, mediaKey } = media.location;
      stream = await Promise.race([
        this.#baileys.downloadContentFromMessage({ directPath, mediaKey }, media.mediaType, { host }),
        timeout,
      ]);
      const extension = extensionFor(media.kind, media.mimeType, media.fileName);
      const saved = await saveToInbox({
        workspace,
        name: { chat, messageId: id, kind: media.kind, extension },
        source: stream,
        maxBytes: maxFileBytes,
      });
      return { kind: media.kind, path: saved.path, mime_type: media.mimeType, size: saved.size };
    } catch (error) {
      return refuse(String(error.message).slice(0, 200));
    } finally {
      clearTimeout(timer);
      timeout.catch(() => {});
      stream?.destroy();
    }
  }
}

/** Keep `value` under `key` in `map`, dropping the oldest entries beyond RECENT_LIMIT. */
function remember(map, key, value) {
  map.delete(key);
  map.set(key, value);
  while (map.size > RECENT_LIMIT) {
    map.delete(map.keys().next().value);
  }
}

/**
 * Baileys' logger interface on the bridge's log: warnings and errors only, as their message
 * text (the objects Baileys attaches can hold message content and keys: never logged).
 */
function baileysLogger(log) {
  const quiet = () => {};
  const logger = {
    level: 'warn',
    child: () => logger,
    trace: quiet,
    debug: quiet,
    info: quiet,
    warn: (object, message) => log('warn', `baileys: ${textOf(object, message)}`),
    error: (object, message) => log('error', `baileys: ${textOf(object, message)}`),
  };
  return logger;
}

function textOf(object, message) {
  if (typeof message === 'string') return message;
  if (typeof object === 'string') return object;
  return 'event without message';
}
