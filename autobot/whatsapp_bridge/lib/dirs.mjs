/**
 * The bridge's own directories (session credentials, pending messages, the Unix socket's
 * directory) and the checks that make them trustworthy before anything is stored there.
 *
 * Every refusal is a ConfigError naming the directory and the fix: start is refused (exit 2)
 * rather than credentials written where another account can read or swap them.
 */
import { lstat, mkdir } from 'node:fs/promises';

import { ConfigError } from './errors.mjs';

/**
 * Make sure `path` is a private directory of this account: created 0700 (with its missing
 * parents) when absent; refused when it is a symlink, not a directory, owned by another
 * account, or has any permission bit for group or others. `what` names it in messages.
 */
export async function ensurePrivateDir(path, what) {
  await mkdir(path, { recursive: true, mode: 0o700 }).catch((error) => {
    throw new ConfigError(`${what} ${path} cannot be created: ${error.code ?? error.message}`);
  });
  const stat = await lstat(path);
  if (stat.isSymbolicLink()) {
    throw new ConfigError(`${what} ${path} is a symlink: refused (name the directory itself)`);
  }
  if (!stat.isDirectory()) {
    throw new ConfigError(`${what} ${path} is not a directory`);
  }
  if (stat.uid !== process.geteuid()) {
    throw new ConfigError(`${what} ${path} belongs to uid ${stat.uid}, not to this account (uid ${process.geteuid()})`);
  }
  if ((stat.mode & 0o077) !== 0) {
    throw new ConfigError(
      `${what} ${path} is accessible by group or others (mode ${modeOf(stat)}): run chmod 700 ${path}`,
    );
  }
}

/**
 * Refuse `dir` as the home of the Unix socket unless it is a directory that neither group
 * nor others can write (they could otherwise replace the socket), owned by this account or
 * by root.
 */
export async function checkSocketDir(dir) {
  const stat = await lstat(dir).catch((error) => {
    throw new ConfigError(`the socket directory ${dir} is not usable: ${error.code ?? error.message}`);
  });
  if (!stat.isDirectory()) {
    throw new ConfigError(`the socket directory ${dir} is not a directory`);
  }
  if (stat.uid !== process.geteuid() && stat.uid !== 0) {
    throw new ConfigError(`the socket directory ${dir} belongs to uid ${stat.uid}, not to this account`);
  }
  if ((stat.mode & 0o022) !== 0) {
    throw new ConfigError(
      `the socket directory ${dir} is writable by group or others (mode ${modeOf(stat)}): use a private directory`,
    );
  }
}

/** The permission bits of `stat` as three octal digits ("644"), for messages. */
export function modeOf(stat) {
  return (stat.mode & 0o777).toString(8).padStart(3, '0');
}
