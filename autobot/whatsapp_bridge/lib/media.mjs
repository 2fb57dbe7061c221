/**
 * Media types and file extensions, as plain tables: which extension a received file is
 * stored under, which MIME type a sent file is announced with.
 */
const EXTENSIONS_BY_MIME = Object.freeze({
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'application/pdf': 'pdf',
  'text/plain': 'txt',
  'text/markdown': 'md',
  'text/csv': 'csv',
  'application/json': 'json',
  'application/zip': 'zip',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'pptx',
  'audio/ogg': 'ogg',
  'audio/mpeg': 'mp3',
  'audio/mp4': 'm4a',
  'video/mp4': 'mp4',
});
const MIME_BY_EXTENSION = Object.freeze({
  ...Object.fromEntries(Object.entries(EXTENSIONS_BY_MIME).map(([mime, extension]) => [extension, mime])),
  jpeg: 'image/jpeg',
  oga: 'audio/ogg',
  opus: 'audio/ogg',
  log: 'text/plain',
  yaml: 'text/plain',
  yml: 'text/plain',
});
const EXTENSIONS = new Set(Object.keys(MIME_BY_EXTENSION));
const DEFAULT_EXTENSION = Object.freeze({ photo: 'jpg', voice: 'ogg', video: 'mp4' });
export const DEFAULT_MIME = Object.freeze({
  photo: 'image/jpeg',
  voice: 'audio/ogg; codecs=opus',
  audio: 'audio/mpeg',
  video: 'video/mp4',
  document: 'application/octet-stream',
});
const MIME = /^[a-z0-9][a-z0-9.+-]{0,63}\/[a-z0-9][a-z0-9.+-]{0,127}$/;

/** The MIME type `value` lower-cased, without parameters, when it has the form type/subtype; else null. */
export function cleanMime(value) {
  const mime = String(value ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();
  return MIME.test(mime) ? mime : null;
}

/**
 * The extension a received file is stored under: a photo is a JPEG; a document keeps its
 * own extension when on the allowlist; else its MIME type's, else the kind's default, else
 * `bin`. Nothing else the sender chose reaches the file name.
 */
export function extensionFor(kind, mimeType, fileName) {
  if (kind === 'photo') {
    return 'jpg';
  }
  const suffix = suffixOf(fileName);
  if (kind === 'document' && EXTENSIONS.has(suffix)) {
    return suffix;
  }
  return EXTENSIONS_BY_MIME[cleanMime(mimeType)] ?? DEFAULT_EXTENSION[kind] ?? 'bin';
}

/** The MIME type a file sent as `kind` is announced with: by its extension, else the kind's default. */
export function mimeForFile(kind, fileName) {
  if (kind === 'voice') {
    return DEFAULT_MIME.voice; // WhatsApp plays voice notes as Opus in Ogg only
  }
  return MIME_BY_EXTENSION[suffixOf(fileName)] ?? DEFAULT_MIME[kind];
}

function suffixOf(fileName) {
  const name = String(fileName ?? '');
  const dot = name.lastIndexOf('.');
  return dot >= 0 ? name.slice(dot + 1).toLowerCase() : '';
}
