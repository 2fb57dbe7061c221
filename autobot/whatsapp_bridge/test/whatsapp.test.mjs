/**
 * The Baileys glue (lib/whatsapp.mjs) driven through a stand-in for the Baileys module: the
 * real one is never loaded here (no account, no network). The stand-in records the sockets
 * the session makes and what it asks of them, and lets a test play WhatsApp's events.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { mock, test } from 'node:test';

import { NotConnected } from '../lib/session.mjs';
import { MAX_SOURCE_BYTES, openWhatsAppSession } from '../lib/whatsapp.mjs';
import { tempDir, until } from './helpers.mjs';

const KEY = new Uint8Array(32).fill(9);
const ALICE = '15551234567@s.whatsapp.net';

/**
 * Baileys' BufferJSON as Baileys defines it (bytes as `{ type: 'Buffer', data: <base64> }`).
 * The stand-in's messages are plain objects, so `proto.Message.fromObject` has nothing to
 * convert back (the real one turns the base64 text of protobuf bytes into bytes again).
 */
const bufferJson = {
  replacer: (key, value) =>
    Buffer.isBuffer(value) || value instanceof Uint8Array || value?.type === 'Buffer'
      ? { type: 'Buffer', data: Buffer.from(value?.data || value).toString('base64') }
      : value,
  reviver: (key, value) =>
    value !== null && typeof value === 'object' && value.type === 'Buffer' && typeof value.data === 'string'
      ? Buffer.from(value.data, 'base64')
      : value,
};

function fakeBaileys() {
  const baileys = {
    sockets: [],
    downloads: [],
    media: Buffer.from('IMAGEBYTES'),
    DisconnectReason: { loggedOut: 401, restartRequired: 515 },
    BufferJSON: bufferJson,
    proto: { Message: { fromObject: (object) => object } },
    useMultiFileAuthState: async (dir) => ({ state: { creds: { dir }, keys: {} }, saveCreds: () => {} }),
    makeCacheableSignalKeyStore: (keys) => keys,
    normalizeMessageContent: (content) => content?.ephemeralMessage?.message ?? content,
    downloadContentFromMessage: async (location, type, options) => {
      baileys.downloads.push({ location, type, options });
      return Readable.from([baileys.media]);
    },
    makeWASocket: (config) => {
      const sock = {
        config,
        ev: new EventEmitter(),
        user: { id: '15550001111:3@s.whatsapp.net', lid: '99887766:3@lid' },
        sent: [],
        ended: false,
        async sendMessage(to, content, options) {
          sock.sent.push({ to, content, options });
          return { key: { id: `OUT${sock.sent.length}` }, message: { conversation: content.text ?? '' } };
        },
        end() {
          sock.ended = true;
        },
      };
      baileys.sockets.push(sock);
      return sock;
    },
  };
  return baileys;
}

async function session(t, extra = {}) {
  const dir = await tempDir(t);
  const workspace = join(dir, 'workspace');
  await mkdir(workspace);
  const baileys = fakeBaileys();
  const logs = [];
  let printed = '';
  const events = [];
  const whatsapp = await openWhatsAppSession(
    {
      authDir: join(dir, 'auth'),
      workspace,
      qrPng: join(dir, 'whatsapp-qr.png'),
      maxFileBytes: 1000,
      log: (level, text) => logs.push(`${level}: ${text}`),
      stderr: { write: (text) => (printed += text) },
      random: () => 0,
      ...extra,
    },
    baileys,
  );
  for (const name of ['status', 'qr', 'fatal']) whatsapp.on(name, (value) => events.push([name, value]));
  const sources = new Map(); // message id -> the source emitted with it
  whatsapp.on('message', (frame, source) => {
    events.push(['message', frame]);
    sources.set(frame.id, source);
  });
  t.after(() => whatsapp.close());
  whatsapp.start();
  await until(() => baileys.sockets.length === 1, 'the first socket');
  const last = () => baileys.sockets.at(-1);
  const open = async () => {
    last().ev.emit('connection.update', { connection: 'open' });
    await until(() => whatsapp.connected, 'open');
  };
  const received = async (count) => {
    await until(() => events.filter(([name]) => name === 'message').length === count, `${count} message(s)`);
    return events.filter(([name]) => name === 'message').map(([, frame]) => frame);
  };
  return { whatsapp, baileys, logs, events, sources, received, dir, workspace, last, open, printed: () => printed };
}

function incoming(id, content, key = {}) {
  return {
    key: { remoteJid: ALICE, fromMe: false, id, ...key },
    messageTimestamp: 1767225600,
    pushName: 'Alice',
    message: content,
  };
}

test('the socket is made with no history, no online presence, no link previews', async (t) => {
  const { last, events } = await session(t);
  const { config } = last();
  assert.equal(config.syncFullHistory, false);
  assert.equal(config.markOnlineOnConnect, false);
  assert.equal(config.generateHighQualityLinkPreview, false);
  assert.match(config.auth.creds.dir, /auth$/);
  assert.deepEqual(events[0], ['status', { state: 'connecting', detail: 'connecting to WhatsApp' }]);
});

test('a QR code: shown on stderr and as a PNG, a qr event; linked: open, the PNG removed', async (t) => {
  const { whatsapp, last, events, dir, printed, open } = await session(t);
  last().ev.emit('connection.update', { qr: '2@PAYLOAD,KEYS' });
  await until(() => events.some(([name]) => name === 'qr'), 'the qr event');
  const png = join(dir, 'whatsapp-qr.png');
  assert.deepEqual(events.find(([name]) => name === 'qr')[1], { qr: '2@PAYLOAD,KEYS', png });
  assert.deepEqual(whatsapp.status(), { state: 'qr', detail: 'waiting for the phone to link: scan the QR code' });
  assert.match(printed(), /Link a device/);
  assert.equal((await stat(png)).mode & 0o777, 0o600);
  assert.equal(whatsapp.connected, false);
  await open();
  assert.deepEqual(whatsapp.status(), { state: 'open', detail: 'linked and connected' });
  await until(async () => !(await stat(png).catch(() => null)), 'the PNG removed');
});

test('a closed connection reconnects (backoff), at once when WhatsApp asks for a restart', async (t) => {
  const { whatsapp, baileys, last, open } = await session(t);
  await open();
  last().ev.emit('connection.update', {
    connection: 'close',
    lastDisconnect: { error: { message: 'Connection Terminated', output: { statusCode: 428 } } },
  });
  assert.equal(whatsapp.connected, false);
  assert.deepEqual(whatsapp.status(), {
    state: 'closed',
    detail: 'connection closed (428: Connection Terminated); reconnecting in 0 s',
  });
  await until(() => baileys.sockets.length === 2, 'the second socket');
  last().ev.emit('connection.update', {
    connection: 'close',
    lastDisconnect: { error: { output: { statusCode: 515 } } },
  });
  await until(() => baileys.sockets.length === 3, 'the restart');
  // A late event of an old socket changes nothing.
  baileys.sockets[0].ev.emit('connection.update', { connection: 'open' });
  assert.equal(whatsapp.status().state, 'connecting');
});

test('the backoff grows while the connection keeps failing, and resets once open', async (t) => {
  const { whatsapp, baileys, last } = await session(t, { random: () => 0.999 });
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const settle = async () => {
    for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
  };
  const fail = () =>
    last().ev.emit('connection.update', {
      connection: 'close',
      lastDisconnect: { error: { output: { statusCode: 408 } } },
    });
  for (const [attempt, delay] of [
    [1, 999],
    [2, 1998],
    [3, 3996],
  ]) {
    fail();
    assert.match(whatsapp.status().detail, new RegExp(`reconnecting in ${Math.ceil(delay / 1000)} s$`));
    mock.timers.tick(delay - 1);
    await settle();
    assert.equal(baileys.sockets.length, attempt, `no reconnect before ${delay} ms`);
    mock.timers.tick(1);
    await settle();
    assert.equal(baileys.sockets.length, attempt + 1, `reconnected after ${delay} ms`);
  }
  last().ev.emit('connection.update', { connection: 'open' });
  fail();
  assert.match(whatsapp.status().detail, /reconnecting in 1 s$/, 'back to the first delay');
});

test('logged out (401): the status says so and nothing reconnects', async (t) => {
  const { whatsapp, baileys, last, open, dir } = await session(t);
  await open();
  last().ev.emit('connection.update', {
    connection: 'close',
    lastDisconnect: { error: { output: { statusCode: 401 } } },
  });
  assert.deepEqual(whatsapp.status(), {
    state: 'logged_out',
    detail: `WhatsApp logged this device out: delete ${join(dir, 'auth')} and link the phone again`,
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(baileys.sockets.length, 1);
});

test('received messages become frames in arrival order; history and own messages do not', async (t) => {
  const { last, events, open } = await session(t);
  await open();
  const sock = last();
  sock.ev.emit('messages.upsert', { type: 'append', messages: [incoming('OLD', { conversation: 'history' })] });
  sock.ev.emit('messages.upsert', {
    type: 'notify',
    messages: [
      incoming('M1', { conversation: 'first' }),
      incoming('MINE', { conversation: 'sent from the phone' }, { fromMe: true }),
      incoming('M2', { ephemeralMessage: { message: { extendedTextMessage: { text: 'second' } } } }),
    ],
  });
  await until(() => events.filter(([name]) => name === 'message').length === 2, 'two messages');
  const frames = events.filter(([name]) => name === 'message').map(([, frame]) => frame);
  assert.deepEqual(
    frames.map((frame) => [frame.id, frame.text, frame.phone]),
    [
      ['M1', 'first', '+15551234567'],
      ['M2', 'second', '+15551234567'],
    ],
  );
});

const PHOTO = {
  imageMessage: {
    caption: 'look',
    mimetype: 'image/jpeg',
    fileLength: 10,
    directPath: '/v/t62/abc.enc?x=1',
    url: 'https://mmg.whatsapp.net/v/t62/abc.enc?x=1',
    mediaKey: KEY,
  },
};

test('a photo arrives described, with its source, and is not downloaded', async (t) => {
  const { baileys, last, open, received, sources, workspace } = await session(t);
  await open();
  last().ev.emit('messages.upsert', {
    type: 'notify',
    messages: [incoming('P1', PHOTO), incoming('T1', { conversation: 'text' })],
  });
  const [photo, text] = await received(2);
  assert.deepEqual(photo.media, [{ kind: 'photo', mime_type: 'image/jpeg', size: 10 }]);
  assert.deepEqual(text.media, []);
  assert.equal(sources.get('T1'), null, 'no source without media');
  const kept = JSON.parse(sources.get('P1'), bufferJson.reviver);
  assert.deepEqual(kept.key, incoming('P1', PHOTO).key);
  assert.deepEqual(new Uint8Array(kept.message.imageMessage.mediaKey), KEY);
  assert.deepEqual(baileys.downloads, []);
  assert.deepEqual(await readdir(workspace), []);
});

test('fetchMedia downloads from the checked location into the inbox; again, it replaces the file', async (t) => {
  const { whatsapp, baileys, last, open, received, sources, workspace } = await session(t);
  await open();
  last().ev.emit('messages.upsert', { type: 'notify', messages: [incoming('P1', PHOTO)] });
  const [frame] = await received(1);
  const request = { id: frame.id, chat: frame.chat, source: sources.get('P1') };
  const path = 'inbox/whatsapp-15551234567-P1-photo.jpg';
  assert.deepEqual(await whatsapp.fetchMedia(request), [{ kind: 'photo', path, mime_type: 'image/jpeg', size: 10 }]);
  assert.equal(await readFile(join(workspace, path), 'utf8'), 'IMAGEBYTES');
  assert.deepEqual(baileys.downloads, [
    {
      location: { directPath: '/v/t62/abc.enc?x=1', mediaKey: Buffer.from(KEY) }, // the key kept, as bytes
      type: 'image',
      options: { host: 'mmg.whatsapp.net' },
    },
  ]);
  baileys.media = Buffer.from('FRESHBYTES');
  assert.equal((await whatsapp.fetchMedia(request))[0].path, path);
  assert.deepEqual(await readdir(join(workspace, 'inbox')), ['whatsapp-15551234567-P1-photo.jpg']);
  assert.equal(await readFile(join(workspace, path), 'utf8'), 'FRESHBYTES');
});

test('media with an unsafe location, too large, or over the cap is not saved: the answer says why', async (t) => {
  const { whatsapp, baileys, last, open, received, sources, logs, workspace } = await session(t);
  await open();
  baileys.media = Buffer.alloc(1001); // more than maxFileBytes, whatever the message claimed
  last().ev.emit('messages.upsert', {
    type: 'notify',
    messages: [
      incoming('U1', { imageMessage: { url: 'http://169.254.169.254/latest/meta-data', mediaKey: KEY } }),
      incoming('U2', {
        documentMessage: { directPath: '/v/x.enc', mediaKey: KEY, fileLength: 5000, fileName: 'a.pdf' },
      }),
      incoming('U3', { documentMessage: { directPath: '/v/y.enc', mediaKey: KEY, fileLength: 10, fileName: 'b.pdf' } }),
    ],
  });
  const frames = await received(3);
  const answers = [];
  for (const frame of frames) {
    answers.push(...(await whatsapp.fetchMedia({ id: frame.id, chat: frame.chat, source: sources.get(frame.id) })));
  }
  assert.deepEqual(answers, [
    { kind: 'photo', error: 'it names no safe download location' },
    { kind: 'document', error: 'it is 5000 bytes, more than 1000' },
    { kind: 'document', error: 'the file is more than 1000 bytes' },
  ]);
  assert.equal(baileys.downloads.length, 1, 'only U3 was fetched');
  assert.ok(logs.includes('warn: the photo of message U1 was not saved: it names no safe download location'));
  assert.ok(logs.includes('warn: the document of message U3 was not saved: the file is more than 1000 bytes'));
  assert.deepEqual(await readdir(join(workspace, 'inbox')), []);
});

test('a source without media is refused; a message too big to keep comes without a source', async (t) => {
  const { whatsapp, last, open, received, sources, logs } = await session(t);
  await open();
  const huge = { imageMessage: { ...PHOTO.imageMessage, jpegThumbnail: Buffer.alloc(MAX_SOURCE_BYTES) } };
  last().ev.emit('messages.upsert', { type: 'notify', messages: [incoming('H1', huge)] });
  const [frame] = await received(1);
  assert.deepEqual(frame.media, [{ kind: 'photo', mime_type: 'image/jpeg', size: 10 }]);
  assert.equal(sources.get('H1'), null);
  assert.ok(logs.includes(`warn: message H1 is over ${MAX_SOURCE_BYTES} bytes: its media cannot be fetched`));
  const textOnly = JSON.stringify(incoming('T', { conversation: 'no media' }));
  await assert.rejects(whatsapp.fetchMedia({ id: 'T', chat: ALICE, source: textOnly }), /holds no media/);
  await assert.rejects(whatsapp.fetchMedia({ id: 'T', chat: ALICE, source: 'not json' }), SyntaxError);
});

test('sending: not connected is NotConnected; text without link preview, quoting a received message', async (t) => {
  const { whatsapp, last, events, open } = await session(t);
  await assert.rejects(whatsapp.sendText({ to: ALICE, text: 'hi', replyTo: null }), NotConnected);
  await open();
  const sock = last();
  const received = incoming('Q1', { conversation: 'question' });
  sock.ev.emit('messages.upsert', { type: 'notify', messages: [received] });
  await until(() => events.some(([name]) => name === 'message'), 'the message');
  assert.equal(await whatsapp.sendText({ to: ALICE, text: 'see https://example.com', replyTo: 'Q1' }), 'OUT1');
  assert.equal(await whatsapp.sendText({ to: ALICE, text: 'plain', replyTo: 'UNKNOWN' }), 'OUT2');
  assert.deepEqual(sock.sent, [
    { to: ALICE, content: { text: 'see https://example.com', linkPreview: null }, options: { quoted: received } },
    { to: ALICE, content: { text: 'plain', linkPreview: null }, options: {} },
  ]);
  assert.deepEqual(await sock.config.getMessage({ id: 'OUT1' }), { conversation: 'see https://example.com' });
});

test('sending media: no thumbnails; a caption on a voice note follows as text', async (t) => {
  const { whatsapp, last, open } = await session(t);
  await open();
  const data = Buffer.from('DATA');
  await whatsapp.sendMedia({ to: ALICE, kind: 'photo', data, mimeType: 'image/png', fileName: 'a.png', caption: 'c' });
  await whatsapp.sendMedia({
    to: ALICE,
    kind: 'document',
    data,
    mimeType: 'application/pdf',
    fileName: 'r.pdf',
    caption: null,
  });
  const id = await whatsapp.sendMedia({
    to: ALICE,
    kind: 'voice',
    data,
    mimeType: 'audio/ogg; codecs=opus',
    fileName: 'v.ogg',
    caption: 'transcript',
  });
  assert.equal(id, 'OUT3');
  assert.deepEqual(
    last().sent.map(({ content }) => content),
    [
      { image: data, mimetype: 'image/png', jpegThumbnail: null, caption: 'c' },
      { document: data, mimetype: 'application/pdf', fileName: 'r.pdf' },
      { audio: data, mimetype: 'audio/ogg; codecs=opus', ptt: true },
      { text: 'transcript', linkPreview: null },
    ],
  );
});

test('a voice note whose caption then fails is still sent: the request must not be retried', async (t) => {
  const { whatsapp, last, open, logs } = await session(t);
  await open();
  const sock = last();
  const send = sock.sendMessage;
  sock.sendMessage = async (to, content, options) => {
    if (content.text !== undefined) throw new Error('connection lost');
    return send(to, content, options);
  };
  const voice = { to: ALICE, kind: 'voice', data: Buffer.from('V'), mimeType: 'audio/ogg', fileName: 'v.ogg' };
  assert.equal(await whatsapp.sendMedia({ ...voice, caption: 'words' }), 'OUT1');
  assert.ok(logs.includes('warn: the caption of voice message OUT1 was not sent: connection lost'));
});

test('close ends the socket for good', async (t) => {
  const { whatsapp, baileys, last, open } = await session(t);
  await open();
  await whatsapp.close();
  assert.equal(last().ended, true);
  assert.equal(whatsapp.connected, false);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(baileys.sockets.length, 1);
});
