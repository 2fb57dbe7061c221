/**
 * A received WhatsApp message as the protocol's `message` frame: pure functions of the
 * message (as Baileys decodes it, with its content already unwrapped from ephemeral /
 * view-once envelopes by the caller), the bot's own JIDs and the time. No Baileys import, no
 * I/O: tested with plain objects.
 *
 * `describeMessage` returns null for what the gateway never sees (the bot's own messages,
 * status broadcasts, newsletters, reactions, stickers, protocol messages, anything without
 * text or a supported media), else the frame; its `media` lists what the message carries
 * (kind, MIME type, the size the sender declared), never a file: nothing is downloaded
 * before the gateway asks (`fetch_media`). `mediaOf` describes that media for the download:
 * its download location is checked here (`mediaLocation`): the sender writes the message,
 * so its `url` and `directPath` are attacker-controlled; only a plain path on a whatsapp.net
 * host is ever fetched.
 */
import { MAX_ID_CHARS, isSendableJid } from './frames.mjs';
import { DEFAULT_MIME, cleanMime } from './media.mjs';

export const MAX_PUSH_NAME_CHARS = 256;
export const MEDIA_HOST = 'mmg.whatsapp.net';
const PHONE_JID = /^([0-9]{1,20})@s\.whatsapp\.net$/;
const DIRECT_PATH = /^\/(?!\/)[A-Za-z0-9/._~%=&?+-]{1,2048}$/;
const WHATSAPP_HOST = /^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.whatsapp\.net$/;
const MEDIA_FIELDS = Object.freeze({
  imageMessage: { kind: 'photo', mediaType: 'image' },
  videoMessage: { kind: 'video', mediaType: 'video' },
  documentMessage: { kind: 'document', mediaType: 'document' },
  audioMessage: { kind: 'audio', mediaType: 'audio' },
});

/** `jid` without its device and agent parts ("1555:12@s.whatsapp.net" -> "1555@s.whatsapp.net"); null if not a JID. */
export function userJid(jid) {
  if (typeof jid !== 'string') return null;
  const at = jid.indexOf('@');
  if (at <= 0) return null;
  const user = jid.slice(0, at).split(':')[0].split('_')[0];
  const server = jid.slice(at + 1) === 'c.us' ? 's.whatsapp.net' : jid.slice(at + 1);
  return user ? `${user}@${server}` : null;
}

/** "+<digits>" for a phone-number JID, else null (a LID has no phone in it). */
export function phoneOf(jid) {
  const match = PHONE_JID.exec(userJid(jid) ?? '');
  return match === null ? null : `+${match[1]}`;
}

/** The bot's own JIDs (phone number and LID, without device) from Baileys' `sock.user`. */
export function botJids(user) {
  return new Set([userJid(user?.id), userJid(user?.lid)].filter((jid) => jid !== null));
}

/** A protobuf 64-bit integer (number, bigint, Long or {low, high}) as a number; null if unusable. */
export function longToNumber(value) {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  if (value !== null && typeof value === 'object') {
    if (typeof value.toNumber === 'function') return value.toNumber();
    if (typeof value.low === 'number' && typeof value.high === 'number') {
      return value.high * 2 ** 32 + (value.low >>> 0);
    }
  }
  return null;
}

/**
 * Where a media may be downloaded from: `{ directPath, host, mediaKey }`, or null when the
 * message names no safe location. The path must be a plain absolute path (no `@`, `:`, `#`,
 * `\`: nothing that moves the request off the host); the host is the one of the message's
 * `url` only when that is https on a whatsapp.net name without port, else MEDIA_HOST; the
 * `url` itself is never fetched. The media key must be 32 bytes.
 */
export function mediaLocation(media) {
  const { directPath, url, mediaKey } = media ?? {};
  if (typeof directPath !== 'string' || !DIRECT_PATH.test(directPath) || directPath.includes('..')) {
    return null;
  }
  if (!(mediaKey instanceof Uint8Array) || mediaKey.length !== 32) {
    return null;
  }
  let host = MEDIA_HOST;
  try {
    const parsed = new URL(url);
    if (
      parsed.protocol === 'https:' &&
      parsed.port === '' &&
      parsed.username === '' &&
      WHATSAPP_HOST.test(parsed.hostname)
    ) {
      host = parsed.hostname;
    }
  } catch {
    // no usable url: the default media host
  }
  return { directPath, host, mediaKey };
}

/**
 * The frame of `message` (see the module doc), or null. `content` is the unwrapped message
 * content, `bots` the bot's JIDs (botJids), `now()` milliseconds for a missing timestamp.
 */
export function describeMessage(message, content, { bots, now }) {
  const key = message?.key;
  if (!key || key.fromMe || content === null || typeof content !== 'object') return null;
  const chat = userJid(key.remoteJid);
  if (!isSendableJid(chat)) return null; // users, LIDs and groups: no broadcast, newsletter
  if (typeof key.id !== 'string' || key.id.length === 0 || key.id.length > MAX_ID_CHARS) return null;
  const isGroup = chat.endsWith('@g.us');
  const sender = isGroup ? userJid(key.participant) : chat;
  if (sender === null) return null;

  const { text, inner, media } = parts(content);
  if (text === null && media === null) return null;
  const context = inner?.contextInfo ?? null;
  const mentions = Array.isArray(context?.mentionedJid) ? context.mentionedJid : [];
  const quotedAuthor = userJid(context?.participant);
  const alternative = isGroup ? key.participantAlt : key.remoteJidAlt;
  const pushName = typeof message.pushName === 'string' && message.pushName !== '' ? message.pushName : null;
  return {
    type: 'message',
    id: key.id,
    chat,
    sender,
    phone: phoneOf(sender) ?? phoneOf(alternative),
    push_name: pushName === null ? null : pushName.slice(0, MAX_PUSH_NAME_CHARS),
    text: text ?? '',
    timestamp: longToNumber(message.messageTimestamp) ?? Math.floor(now() / 1000),
    is_group: isGroup,
    mentioned: mentions.some((jid) => bots.has(userJid(jid))),
    reply_to_bot: quotedAuthor !== null && bots.has(quotedAuthor),
    reply_to:
      typeof context?.stanzaId === 'string' && context.stanzaId !== '' ? context.stanzaId.slice(0, MAX_ID_CHARS) : null,
    media: media === null ? [] : [{ kind: media.kind, mime_type: media.mimeType, size: media.declaredSize }],
  };
}

/**
 * The media of `content` (the unwrapped message content) as the download needs it:
 * `{ kind, mediaType, mimeType, fileName, declaredSize, location }` (`declaredSize` a
 * non-negative integer or null; `location` from mediaLocation, null when unsafe), or null
 * for a message without a supported media.
 */
export function mediaOf(content) {
  return parts(content).media;
}

/** The text, the sub-message holding the context, and the media description of `content`. */
function parts(content) {
  if (content === null || typeof content !== 'object') {
    return { text: null, inner: null, media: null };
  }
  if (typeof content.conversation === 'string' && content.conversation !== '') {
    return { text: content.conversation, inner: null, media: null };
  }
  const extended = content.extendedTextMessage;
  if (extended && typeof extended.text === 'string' && extended.text !== '') {
    return { text: extended.text, inner: extended, media: null };
  }
  for (const [field, { kind: baseKind, mediaType }] of Object.entries(MEDIA_FIELDS)) {
    const inner = content[field];
    if (!inner || typeof inner !== 'object') continue;
    const kind = field === 'audioMessage' && inner.ptt ? 'voice' : baseKind;
    const caption = typeof inner.caption === 'string' && inner.caption !== '' ? inner.caption : null;
    const declaredSize = longToNumber(inner.fileLength);
    return {
      text: caption,
      inner,
      media: {
        kind,
        mediaType,
        mimeType: cleanMime(inner.mimetype) ?? cleanMime(DEFAULT_MIME[kind]),
        fileName: typeof inner.fileName === 'string' ? inner.fileName : null,
        declaredSize: Number.isSafeInteger(declaredSize) && declaredSize >= 0 ? declaredSize : null,
        location: mediaLocation(inner),
      },
    };
  }
  return { text: null, inner: null, media: null };
}
