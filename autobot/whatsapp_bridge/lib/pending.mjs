/**
 * The messages delivered to the client and not yet acknowledged, kept on disk.
 *
 * `PendingStore` keeps, in one directory (the bridge's --state-dir), one file per message,
 * `m<16-digit sequence>.json`, holding `{ frame, source }`: its `message` frame and, for a
 * message with media, the source the session downloads them from when the client asks
 * (`fetch_media`), else null. A message is written atomically (atomic.mjs: a 0600 temp file,
 * fsync-ed, renamed into place) before it is sent, so neither a bridge restart nor a crash
 * loses it, nor the means to fetch its media; an ack removes its file (a message acked
 * without a fetch is never downloaded). The order of the sequence numbers is the order of
 * arrival, and redelivery follows it, oldest first. At most `limit` (1000) messages are kept:
 * a message with that many newer ones is dropped, with a warning naming its id.
 *
 * In memory it keeps only the index (id -> sequence), never the frames. Writes and removals
 * run one at a time, in call order. Opening it removes the temp files every interrupted
 * atomic write left in the directory (the outcome log's, outcomes.mjs, included).
 */
import { constants } from 'node:fs';
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

import { TEMP_PREFIX, writeFileAtomic } from './atomic.mjs';
import { ensurePrivateDir } from './dirs.mjs';

export const PENDING_LIMIT = 1000;
const FILE = /^m([0-9]{16})\.json$/;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export class PendingStore {
  #dir;
  #limit;
  #log;
  #index = new Map(); // message id -> sequence number, oldest first
  #nextSequence = 1;
  #queue = Promise.resolve();

  constructor(dir, { limit, log }) {
    this.#dir = dir;
    this.#limit = limit;
    this.#log = log;
  }

  /**
   * The store of `dir` (made a private directory, see ensurePrivateDir), with the messages a
   * previous run left: temp files of an interrupted write are removed, an unreadable file is
   * renamed `*.corrupt` and reported through `log(level, text)`.
   */
  static async open(dir, { limit = PENDING_LIMIT, log }) {
    await ensurePrivateDir(dir, 'the state directory');
    const store = new PendingStore(dir, { limit, log });
    await store.#load();
    return store;
  }

  /** How many messages are kept. */
  get size() {
    return this.#index.size;
  }

  /** The kept message ids, oldest first. */
  ids() {
    return [...this.#index.keys()];
  }

  /**
   * Keep `frame` (a message frame) and its media `source` (a string, or null) durably; false
   * when its id is already kept.
   */
  add(frame, source = null) {
    return this.#serialized(async () => {
      if (this.#index.has(frame.id)) {
        return false;
      }
      const sequence = this.#nextSequence++;
      await writeFileAtomic(join(this.#dir, fileName(sequence)), JSON.stringify({ frame, source }));
      this.#index.set(frame.id, sequence);
      while (this.#index.size > this.#limit) {
        const [oldest, oldestSequence] = this.#index.entries().next().value;
        this.#index.delete(oldest);
        await this.#remove(oldestSequence);
        this.#log('warn', `dropped unacknowledged message ${oldest}: ${this.#limit} newer messages are kept`);
      }
      return true;
    });
  }

  /** `{ frame, source }` of the kept message `id`; null when it is not (or no longer) kept. */
  async record(id) {
    const sequence = this.#index.get(id);
    if (sequence === undefined) {
      return null;
    }
    return this.#readKept(sequence);
  }

  /** Forget the message `id` (idempotent): true when it was kept. */
  ack(id) {
    return this.#serialized(async () => {
      const sequence = this.#index.get(id);
      if (sequence === undefined) {
        return false;
      }
      this.#index.delete(id);
      await this.#remove(sequence);
      return true;
    });
  }

  /**
   * The kept frames, oldest first, read one at a time: a message acknowledged meanwhile is
   * skipped, one added meanwhile is not included (it is sent on its own).
   */
  async *frames() {
    const snapshot = await this.#serialized(async () => [...this.#index.entries()]);
    for (const [id, sequence] of snapshot) {
      if (this.#index.get(id) !== sequence) {
        continue;
      }
      const record = await this.#readKept(sequence);
      if (record !== null) {
        yield record.frame;
      }
    }
  }

  /** The record of `sequence`; null when its file is gone (acknowledged meanwhile). */
  async #readKept(sequence) {
    return this.#read(fileName(sequence)).catch((error) => {
      if (error.code === 'ENOENT') {
        return null;
      }
      throw error;
    });
  }

  #serialized(work) {
    const result = this.#queue.then(work);
    this.#queue = result.catch(() => {});
    return result;
  }

  async #load() {
    const names = (await readdir(this.#dir)).sort();
    for (const name of names) {
      if (name.startsWith(TEMP_PREFIX)) {
        await unlink(join(this.#dir, name));
        continue;
      }
      const match = FILE.exec(name);
      if (match === null) {
        continue;
      }
      const sequence = Number(match[1]);
      this.#nextSequence = Math.max(this.#nextSequence, sequence + 1);
      let record;
      try {
        record = await this.#read(name);
      } catch (error) {
        await rename(join(this.#dir, name), join(this.#dir, `${name}.corrupt`));
        this.#log('warn', `pending message file ${name} is unreadable (${error.message}): kept as ${name}.corrupt`);
        continue;
      }
      if (this.#index.has(record.frame.id)) {
        await unlink(join(this.#dir, name));
        continue;
      }
      this.#index.set(record.frame.id, sequence);
    }
    if (this.#index.size > 0) {
      this.#log('info', `${this.#index.size} unacknowledged message(s) kept from a previous run`);
    }
  }

  async #read(name) {
    const handle = await open(join(this.#dir, name), READ_FLAGS);
    let record;
    try {
      record = JSON.parse(await readFile(handle, 'utf8'));
    } finally {
      await handle.close();
    }
    const frame = record?.frame;
    if (typeof frame !== 'object' || frame === null || frame.type !== 'message' || typeof frame.id !== 'string') {
      throw new Error('not a kept message frame');
    }
    if (record.source !== null && typeof record.source !== 'string') {
      throw new Error('the media source is neither text nor null');
    }
    return record;
  }

  async #remove(sequence) {
    await unlink(join(this.#dir, fileName(sequence))).catch((error) => {
      if (error.code !== 'ENOENT') {
        throw error;
      }
    });
  }
}

function fileName(sequence) {
  return `m${String(sequence).padStart(16, '0')}.json`;
}
