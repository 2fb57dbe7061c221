import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  MEDIA_HOST,
  botJids,
  describeMessage,
  longToNumber,
  mediaLocation,
  mediaOf,
  phoneOf,
  userJid,
} from '../lib/normalize.mjs';

const BOT = { id: '15550001111:7@s.whatsapp.net', lid: '99887766:7@lid', name: 'bot' };
const bots = botJids(BOT);
const now = () => 1_767_225_600_500;
const KEY = new Uint8Array(32).fill(1);

function dm(content, key = {}) {
  return {
    message: {
      key: { remoteJid: '15551234567@s.whatsapp.net', fromMe: false, id: '3EB0AA', ...key },
      messageTimestamp: 1767225600,
      pushName: 'Alice',
    },
    content,
  };
}

const describe = ({ message, content }) => describeMessage(message, content, { bots, now });

test('JIDs: devices and agents dropped, phones only from phone-number JIDs', () => {
  assert.equal(userJid('15551234567:12@s.whatsapp.net'), '15551234567@s.whatsapp.net');
  assert.equal(userJid('15551234567@c.us'), '15551234567@s.whatsapp.net');
  assert.equal(userJid('123_1:3@lid'), '123@lid');
  assert.equal(userJid('nope'), null);
  assert.equal(userJid(null), null);
  assert.equal(phoneOf('15551234567:3@s.whatsapp.net'), '+15551234567');
  assert.equal(phoneOf('123@lid'), null);
  assert.deepEqual([...bots], ['15550001111@s.whatsapp.net', '99887766@lid']);
  assert.equal(longToNumber({ low: 5, high: 1 }), 2 ** 32 + 5);
  assert.equal(longToNumber({ toNumber: () => 42 }), 42);
  assert.equal(longToNumber('12'), null);
});

test('a direct text message', () => {
  const frame = describe(dm({ conversation: 'hello' }));
  assert.deepEqual(frame, {
    type: 'message',
    id: '3EB0AA',
    chat: '15551234567@s.whatsapp.net',
    sender: '15551234567@s.whatsapp.net',
    phone: '+15551234567',
    push_name: 'Alice',
    text: 'hello',
    timestamp: 1767225600,
    is_group: false,
    mentioned: false,
    reply_to_bot: false,
    reply_to: null,
    media: [],
  });
});

test('a LID-addressed direct message takes its phone from the phone-number alternative', () => {
  const frame = describe(
    dm({ conversation: 'hi' }, { remoteJid: '4455667788@lid', remoteJidAlt: '15551234567@s.whatsapp.net' }),
  );
  assert.equal(frame.chat, '4455667788@lid');
  assert.equal(frame.sender, '4455667788@lid');
  assert.equal(frame.phone, '+15551234567');
  const unknown = describe(dm({ conversation: 'hi' }, { remoteJid: '4455667788@lid' }));
  assert.equal(unknown.phone, null);
});

test('a group message mentioning the bot and replying to it', () => {
  const frame = describe(
    dm(
      {
        extendedTextMessage: {
          text: '@bot what now?',
          contextInfo: {
            mentionedJid: ['99887766@lid'],
            stanzaId: 'BOTMSG1',
            participant: '15550001111:7@s.whatsapp.net',
          },
        },
      },
      {
        remoteJid: '120363000000000001@g.us',
        participant: '4455667788@lid',
        participantAlt: '15557654321@s.whatsapp.net',
      },
    ),
  );
  assert.equal(frame.is_group, true);
  assert.equal(frame.chat, '120363000000000001@g.us');
  assert.equal(frame.sender, '4455667788@lid');
  assert.equal(frame.phone, '+15557654321');
  assert.equal(frame.mentioned, true);
  assert.equal(frame.reply_to_bot, true);
  assert.equal(frame.reply_to, 'BOTMSG1');
});

test('mentions and replies of someone else are not the bot', () => {
  const frame = describe(
    dm(
      {
        extendedTextMessage: {
          text: 'x',
          contextInfo: {
            mentionedJid: ['15550001112@s.whatsapp.net'],
            stanzaId: 'Q',
            participant: '15551234567@s.whatsapp.net',
          },
        },
      },
      { remoteJid: '120363000000000001@g.us', participant: '15551234567@s.whatsapp.net' },
    ),
  );
  assert.equal(frame.mentioned, false);
  assert.equal(frame.reply_to_bot, false);
  assert.equal(frame.reply_to, 'Q');
});

test('what the gateway never sees', () => {
  const skipped = [
    dm({ conversation: 'mine' }, { fromMe: true }),
    dm({ conversation: 'status' }, { remoteJid: 'status@broadcast' }),
    dm({ conversation: 'news' }, { remoteJid: '1203@newsletter' }),
    dm({ conversation: 'no id' }, { id: '' }),
    dm({ conversation: 'long id' }, { id: 'x'.repeat(129) }),
    dm({ conversation: 'group without author' }, { remoteJid: '120363000000000001@g.us' }),
    dm({ reactionMessage: { text: '👍' } }),
    dm({ stickerMessage: { url: 'x' } }),
    dm({ protocolMessage: { type: 0 } }),
    dm(null),
  ];
  for (const input of skipped) assert.equal(describe(input), null, JSON.stringify(input.content));
});

test('a photo with a caption: described in the frame, never downloaded; its media from a checked location', () => {
  const content = {
    imageMessage: {
      caption: 'look',
      mimetype: 'image/jpeg',
      fileLength: { low: 1234, high: 0 },
      directPath: '/v/t62.7118-24/123_456_n.enc?ccb=11-4&oh=01_Q5&oe=65F&_nc_sid=5e03e0',
      url: 'https://mmg.whatsapp.net/v/t62.7118-24/123_456_n.enc?x=1',
      mediaKey: KEY,
    },
  };
  const frame = describe(dm(content));
  assert.equal(frame.text, 'look');
  assert.deepEqual(frame.media, [{ kind: 'photo', mime_type: 'image/jpeg', size: 1234 }]);
  assert.deepEqual(mediaOf(content), {
    kind: 'photo',
    mediaType: 'image',
    mimeType: 'image/jpeg',
    fileName: null,
    declaredSize: 1234,
    location: {
      directPath: '/v/t62.7118-24/123_456_n.enc?ccb=11-4&oh=01_Q5&oe=65F&_nc_sid=5e03e0',
      host: 'mmg.whatsapp.net',
      mediaKey: KEY,
    },
  });
  assert.equal(mediaOf({ conversation: 'text only' }), null);
  assert.equal(mediaOf(null), null);
});

test('a declared size that is no usable byte count is sent as null', () => {
  const base = { directPath: '/v/a.enc', mediaKey: KEY };
  for (const fileLength of [undefined, -5, 2 ** 60, 'big', { low: 0, high: 2 ** 31 }]) {
    const frame = describe(dm({ documentMessage: { ...base, fileLength } }));
    assert.equal(frame.media[0].size, null, String(fileLength));
  }
});

test('voice notes, audio, documents and video', () => {
  const base = { directPath: '/v/a.enc', mediaKey: KEY };
  const voice = { audioMessage: { ...base, ptt: true, mimetype: 'audio/ogg; codecs=opus' } };
  assert.deepEqual(describe(dm(voice)).media, [{ kind: 'voice', mime_type: 'audio/ogg', size: null }]);
  assert.equal(mediaOf(voice).mimeType, 'audio/ogg');
  assert.equal(mediaOf({ audioMessage: { ...base } }).kind, 'audio');
  const documentContent = {
    documentMessage: { ...base, fileName: 'report.pdf', mimetype: 'application/pdf', caption: 'q3' },
  };
  const document = describe(dm(documentContent));
  assert.deepEqual(
    [document.media[0].kind, mediaOf(documentContent).fileName, document.text],
    ['document', 'report.pdf', 'q3'],
  );
  const video = describe(dm({ videoMessage: { ...base, mimetype: 'BAD MIME' } }));
  assert.deepEqual([video.media[0].kind, video.media[0].mime_type, video.text], ['video', 'video/mp4', '']);
});

test('a sender-chosen download location is never trusted', () => {
  const good = { directPath: '/v/t62/abc.enc?x=1', mediaKey: KEY };
  assert.deepEqual(mediaLocation(good), { ...good, host: MEDIA_HOST });
  assert.equal(mediaLocation({ ...good, url: 'https://mmg-fna.whatsapp.net/v/x' }).host, 'mmg-fna.whatsapp.net');
  for (const url of [
    'http://mmg.whatsapp.net/x',
    'https://169.254.169.254/latest',
    'https://evil.example/x',
    'https://mmg.whatsapp.net:8443/x',
    'https://u@mmg.whatsapp.net/x',
    'https://whatsapp.net.evil.example/',
  ]) {
    assert.equal(mediaLocation({ ...good, url }).host, MEDIA_HOST, url);
  }
  for (const directPath of [
    '@evil.example/x',
    '/x@evil.example',
    '//evil.example/x',
    '/v/../../x',
    '/x#y',
    '/x\\y',
    'v/x',
    '',
    null,
    `/${'a'.repeat(2049)}`,
    '/x y',
  ]) {
    assert.equal(mediaLocation({ ...good, directPath, url: 'https://mmg.whatsapp.net/v/x' }), null, String(directPath));
  }
  assert.equal(mediaLocation({ ...good, mediaKey: new Uint8Array(16) }), null);
  assert.equal(
    mediaLocation({ url: 'https://mmg.whatsapp.net/v/x', mediaKey: KEY }),
    null,
    'no directPath: the url is never fetched',
  );
});

test('a missing timestamp is now; a long push name is cut', () => {
  const input = dm({ conversation: 'x' });
  delete input.message.messageTimestamp;
  input.message.pushName = 'n'.repeat(1000);
  const frame = describe(input);
  assert.equal(frame.timestamp, 1_767_225_600);
  assert.equal(frame.push_name.length, 256);
});
