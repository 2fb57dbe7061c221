/**
 * Received media into `<workspace>/inbox/`, safely: the model controls the workspace and can
 * create, swap or link anything there at any moment.
 *
 * `saveToInbox` opens the workspace root once as a directory and reaches everything below it
 * from that descriptor (`/proc/self/fd/<fd>/<name>`, the fd-relative path Linux offers to a
 * program without openat): `inbox` is created 0700 if missing and opened O_DIRECTORY |
 * O_NOFOLLOW (a symlinked inbox is refused), the file is created O_CREAT | O_EXCL |
 * O_NOFOLLOW 0600 under a generated name (`inboxName`: nothing the sender chose but a
 * checked extension), a taken name gets `-2`, `-3`... and what was there is never touched.
 * The content is streamed with a byte cap: more than `maxBytes` empties and removes the file
 * and raises InboxRefused('too_large'). Run as root with a workspace owned by another account
 * (the sandbox's), the directory and file are given the workspace owner with fchown.
 */
import { constants } from 'node:fs';
import { mkdir, open, unlink } from 'node:fs/promises';

export const INBOX_DIR = 'inbox';
export const MAX_NAMES = 100; // numbered names tried before giving up on a flooded inbox

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

/** `whatsapp-<chat>-<message>-<kind>[-<number>].<ext>`, every part reduced to A-Z a-z 0-9 -. */
export function inboxName({ chat, messageId, kind, extension }, number = 1) {
  const chatPart = String(chat).split('@')[0].replace(UNSAFE, '_').slice(0, 32) || '_';
  const idPart = String(messageId).replace(UNSAFE, '_').slice(0, 64) || '_';
  const counter = number === 1 ? '' : `-${number}`;
  return `whatsapp-${chatPart}-${idPart}-${kind}${counter}.${extension}`;
}

/**
 * Store the chunks of `source` (an async iterable of Buffers) as a new file in the inbox of
 * `workspace`; `name` is the inboxName fields. Returns `{ path, size }` with `path` relative
 * to the workspace. Raises InboxRefused ('too_large' over `maxBytes`; 'refused' for an inbox
 * that is a symlink or not a directory, or when every numbered name is taken); an error of
 * `source` propagates after the partial file is removed.
 */
export async function saveToInbox({ workspace, name, source, maxBytes }) {
  const root = await open(workspace, DIRECTORY_FLAGS);
  try {
    const owner = await ownerToGive(root);
    const inbox = await openInbox(root, owner);
    try {
      const { handle, fileName } = await createUnique(inbox, name);
      const path = `/proc/self/fd/${inbox.fd}/${fileName}`;
      try {
        if (owner !== null) {
          await handle.chown(owner.uid, owner.gid);
        }
        const size = await writeCapped(handle, source, maxBytes);
        await handle.sync();
        return { path: `${INBOX_DIR}/${fileName}`, size };
      } catch (error) {
        await handle.truncate(0).catch(() => {});
        await unlink(path).catch(() => {});
        throw error;
      } finally {
        await handle.close();
      }
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

async function createUnique(inbox, name) {
  for (let number = 1; number <= MAX_NAMES; number += 1) {
    const fileName = inboxName(name, number);
    try {
      const handle = await open(`/proc/self/fd/${inbox.fd}/${fileName}`, CREATE_FLAGS, 0o600);
      return { handle, fileName };
    } catch (error) {
      if (error.code !== 'EEXIST') {
        throw error;
      }
    }
  }
  throw new InboxRefused('refused', `${inboxName(name)} and ${MAX_NAMES - 1} numbered names are taken`);
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
