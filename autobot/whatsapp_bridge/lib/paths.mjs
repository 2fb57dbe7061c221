/**
 * The path check of `send_media`: only a regular file strictly inside the workspace is read.
 *
 * `checkWorkspaceFile` resolves the requested path (relative to the workspace, or absolute)
 * with realpath and refuses anything whose real path is not strictly inside the workspace's
 * real path (`..`, /etc/passwd, a symlink leading out), anything that is not a regular file
 * (FIFO, directory, device, socket) and anything over the size cap. It returns what it
 * checked, including the file's device and inode.
 *
 * `readCheckedFile` then opens that real path with O_NOFOLLOW | O_NONBLOCK | O_NOCTTY and
 * re-checks the opened descriptor: a regular file with the same device and inode, still
 * within the cap. So a file or a directory on the way swapped for a symlink (or anything
 * else) between the check and the open is refused, never read. It reads at most
 * `maxBytes` + 1 bytes, so a file that grows past the cap is refused too.
 *
 * Every refusal raises PathRefused with `code` 'path_refused' or 'too_large' and a message
 * that names the requested path, never the content.
 */
import { constants } from 'node:fs';
import { lstat, open, realpath } from 'node:fs/promises';
import { resolve, sep } from 'node:path';

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
const READ_CHUNK = 1 << 20;

/** A refused `send_media` path: `code` is 'path_refused' or 'too_large'. */
export class PathRefused extends Error {
  constructor(code, requested, reason) {
    super(`${JSON.stringify(requested)}: ${reason}`);
    this.name = 'PathRefused';
    this.code = code;
  }
}

/**
 * What `requested` names inside `workspace` (a directory path), checked:
 * `{ realPath, dev, ino, size }` (dev and ino as bigints). Raises PathRefused.
 */
export async function checkWorkspaceFile(workspace, requested, maxBytes) {
  if (typeof requested !== 'string' || requested.length === 0 || requested.includes('\0')) {
    throw new PathRefused('path_refused', String(requested), 'not a usable path');
  }
  const root = await realpath(workspace).catch((error) => {
    throw new PathRefused('path_refused', requested, `the workspace is unavailable (${error.code ?? 'error'})`);
  });
  const lexical = resolve(root, requested); // an absolute `requested` stays itself, normalised
  // Outside by its very spelling (`..`, /etc/passwd): refused without touching the file system.
  // An absolute path may name the workspace as configured or by its real path.
  if (!isInside(lexical, root) && !isInside(lexical, resolve(workspace))) {
    throw new PathRefused('path_refused', requested, 'outside the workspace');
  }
  let realPath;
  try {
    realPath = await realpath(lexical);
  } catch (error) {
    throw new PathRefused('path_refused', requested, reasonOf(error));
  }
  if (!isInside(realPath, root)) {
    throw new PathRefused('path_refused', requested, 'outside the workspace (through a symlink)');
  }
  const stat = await lstat(realPath, { bigint: true }).catch((error) => {
    throw new PathRefused('path_refused', requested, reasonOf(error));
  });
  if (!stat.isFile()) {
    throw new PathRefused('path_refused', requested, `not a regular file (${kindOf(stat)})`);
  }
  if (stat.size > BigInt(maxBytes)) {
    throw new PathRefused('too_large', requested, `${stat.size} bytes, more than ${maxBytes}`);
  }
  return Object.freeze({ requested, realPath, dev: stat.dev, ino: stat.ino, size: Number(stat.size) });
}

/** The content of the file `checked` describes (see the module doc). Raises PathRefused. */
export async function readCheckedFile(checked, maxBytes) {
  let handle;
  try {
    handle = await open(checked.realPath, OPEN_FLAGS);
  } catch (error) {
    throw new PathRefused('path_refused', checked.requested, reasonOf(error));
  }
  try {
    const stat = await handle.stat({ bigint: true });
    if (!stat.isFile() || stat.dev !== checked.dev || stat.ino !== checked.ino) {
      throw new PathRefused('path_refused', checked.requested, 'the file changed between the check and the open');
    }
    if (stat.size > BigInt(maxBytes)) {
      throw new PathRefused('too_large', checked.requested, `${stat.size} bytes, more than ${maxBytes}`);
    }
    return await readCapped(handle, checked.requested, maxBytes);
  } finally {
    await handle.close();
  }
}

/** `checkWorkspaceFile` then `readCheckedFile`: the bytes of a workspace file. */
export async function readWorkspaceFile(workspace, requested, maxBytes) {
  return readCheckedFile(await checkWorkspaceFile(workspace, requested, maxBytes), maxBytes);
}

async function readCapped(handle, requested, maxBytes) {
  const chunks = [];
  let total = 0;
  for (;;) {
    const want = Math.min(READ_CHUNK, maxBytes + 1 - total);
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(want), 0, want, null);
    if (bytesRead === 0) {
      return Buffer.concat(chunks, total);
    }
    chunks.push(buffer.subarray(0, bytesRead));
    total += bytesRead;
    if (total > maxBytes) {
      throw new PathRefused('too_large', requested, `grew past ${maxBytes} bytes while being read`);
    }
  }
}

/** True when `path` (absolute, normalised) is strictly below the directory `root`. */
function isInside(path, root) {
  const prefix = root.endsWith(sep) ? root : root + sep;
  return path.startsWith(prefix) && path.length > prefix.length;
}

function reasonOf(error) {
  switch (error.code) {
    case 'ENOENT':
      return 'no such file in the workspace (or a symlink to a missing file)';
    case 'ELOOP':
      return 'a symlink (refused)';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'EACCES':
      return 'permission denied';
    default:
      return `cannot be opened (${error.code ?? 'error'})`;
  }
}

function kindOf(stat) {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'not a file';
}
