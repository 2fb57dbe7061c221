/**
 * Atomic replacement of a file in one of the bridge's own directories (pending messages, the
 * QR PNG): the data goes to a temp file `.tmp-<name>-<random>` created O_CREAT | O_EXCL |
 * O_NOFOLLOW, mode 0600, in the same directory; it is fsync-ed, renamed over the name, and
 * the directory fsync-ed. A reader sees the old file or the new one, never a part; on any
 * failure the temp file is removed and the error propagates.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const TEMP_PREFIX = '.tmp-';
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Replace the file at `path` with `data` (a string or Buffer), atomically and durably. */
export async function writeFileAtomic(path, data) {
  const directory = dirname(path);
  const temp = join(directory, `${TEMP_PREFIX}${basename(path)}-${randomBytes(6).toString('hex')}`);
  const handle = await open(temp, CREATE_FLAGS, 0o600);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  const dir = await open(directory, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
