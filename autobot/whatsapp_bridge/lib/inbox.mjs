/**
 * Received media into `<workspace>/inbox/`, safely: the model controls the workspace and can
 * create, swap or link anything there at any moment.
 *
 * `saveToInbox` opens the workspace root once as a directory and reaches everything below it
 * from that descriptor (`/proc/self/fd/<fd>/<name>`, the fd-relative path Linux offers to a
 * program without openat): `inbox` is created 0700 if missing and opened O_DIRECTORY |
 * O_NOFOLLOW (a symlinked inbox is refused). A file's name is made from its message
 * (`inboxName`: nothing the sender chose but a checked extension), so the same message always
 * gets the same name. The content is streamed, with a byte cap, into `.<name>.part` (created
 * O_CREAT | O_EXCL | O_NOFOLLOW 0600; a leftover of an interrupted download of the same
 * message is removed first, as a name: unlink never follows it), fsync-ed, then renamed over
 * `<name>` and the inbox fsync-ed. So a file appears whole or not at all, and fetching a
 * message again (after a crash of either side) replaces its file instead of adding a copy:
 * whatever stood at the name (a symlink the model planted included) is replaced, never
 * followed or written through. More than `maxBytes` removes the partial file and raises
 * InboxRefused('too_large'). Run as root with a workspace owned by another account (the
 * sandbox's), the directory and file are given the workspace owner with fchown.
 */
import { constants } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';

export const INBOX_DIR = 'inbox';
export const PART_SUFFIX = '.part';

const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY;
const CREATE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NOCTTY;
const UNSAFE = /[^A-Za-z0-9-]/g;

/** A received file that was not stored: `code` is 'too_large' or 'refused'. */
export class InboxRefused extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'InboxRefused';
    this.code = code;
  }
}

/** `whatsapp-<chat>-<message>-<kind>.<ext>`, every part reduced to A-Z a-z 0-9 -. */
export function inboxName({ chat, messageId, kind, extension }) {
  const chatPart = String(chat).split('@')[0].replace(UNSAFE, '_').slice(0, 32) || '_';
  const idPart = String(messageId).replace(UNSAFE, '_').slice(0, 64) || '_';
  return `whatsapp-${chatPart}-${idPart}-${kind}.${extension}`;
}

/**
 * Store the chunks of `source` (an async iterable of Buffers) in the inbox of `workspace`
 * under the name `name` (the inboxName fields) gives, replacing what is there. Returns
 * `{ path, size }` with `path` relative to the workspace. Raises InboxRefused ('too_large'
 * over `maxBytes`; 'refused' for an inbox that is a symlink or not a directory, or a
 * directory standing at the name); an error of `source` propagates after the partial file is
 * removed.
 */
export async function saveToInbox({ workspace, name, source, maxBytes }) {
  const root = await open(workspace, DIRECTORY_FLAGS);
  try {
    const owner = await ownerToGive(root);
    const inbox = await openInbox(root, owner);
    try {
      const fileName = inboxName(name);
      const inInbox = (entry) => `/proc/self/fd/${inbox.fd}/${entry}`;
      const part = inInbox(`.${fileName}${PART_SUFFIX}`);
      const handle = await createPart(part);
      let size;
      try {
        if (owner !== null) {
          await handle.chown(owner.uid, owner.gid);
        }
        size = await writeCapped(handle, source, maxBytes);
        await handle.sync();
      } catch (error) {
        await handle.truncate(0).catch(() => {});
        await unlink(part).catch(() => {});
        throw error;
      } finally {
        await handle.close();
      }
      await placed(part, inInbox(fileName));
      await inbox.sync();
      return { path: `${INBOX_DIR}/${fileName}`, size };
    } finally {
      await inbox.close();
    }
  } finally {
    await root.close();
  }
}

/** The workspace owner when this process is root and the workspace is another account's; else null. */
async function ownerToGive(root) {
  const stat = await root.stat();
  const mine = stat.uid === process.geteuid() && stat.gid === process.getegid();
  return process.geteuid() === 0 && !mine ? { uid: stat.uid, gid: stat.gid } : null;
}

async function openInbox(root, owner) {
  const path = `/proc/self/fd/${root.fd}/${INBOX_DIR}`;
  let created = true;
  await mkdir(path, { mode: 0o700 }).catch((error) => {
    if (error.code !== 'EEXIST') {
      throw error;
    }
    created = false;
  });
  let inbox;
  try {
    inbox = await open(path, DIRECTORY_FLAGS | constants.O_NOFOLLOW);
  } catch (error) {
    if (error.code === 'ELOOP' || error.code === 'ENOTDIR') {
      throw new InboxRefused('refused', `the workspace's ${INBOX_DIR}/ is a symlink or not a directory`);
    }
    throw error;
  }
  if (created && owner !== null) {
    await inbox.chown(owner.uid, owner.gid);
  }
  return inbox;
}

/** A new private file at `part`; a leftover there (an interrupted download) is removed first. */
async function createPart(part) {
  try {
    return await open(part, CREATE_FLAGS, 0o600);
  } catch (error) {
    if (error.code !== 'EEXIST') {
      throw error;
    }
  }
  await unlink(part).catch((error) => {
    throw new InboxRefused('refused', `a leftover download cannot be removed (${error.code ?? error.message})`);
  });
  return open(part, CREATE_FLAGS, 0o600);
}

/**
 * Rename `part` over `target`: replaces a file or symlink there (never following it); a
 * directory there is refused and `part` removed.
 */
async function placed(part, target) {
  try {
    await rename(part, target);
  } catch (error) {
    await unlink(part).catch(() => {});
    if (error.code === 'EISDIR' || error.code === 'ENOTEMPTY' || error.code === 'EEXIST') {
      throw new InboxRefused('refused', 'a directory stands where the file goes');
    }
    throw error;
  }
}

async function writeCapped(handle, source, maxBytes) {
  let size = 0;
  for await (const chunk of source) {
    size += chunk.length;
    if (size > maxBytes) {
      throw new InboxRefused('too_large', `the file is more than ${maxBytes} bytes`);
    }
    for (let offset = 0; offset < chunk.length; ) {
      const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
      offset += bytesWritten;
    }
  }
  return size;
}
