/**
 * Exactly-once sends: the answers of recent `send` / `send_media` requests, by request id.
 *
 * The client sends a request again under the same request id when it did not get the answer
 * (a connection dropped after the bridge sent the message but before `sent` reached the
 * client, a timeout, a restart of the bridge). `OutcomeLog.answer` makes sure such a repeat
 * never sends a second message:
 * - a request id whose outcome is recorded is answered with that answer again;
 * - a request id still being worked on waits for that work and gets its answer;
 * - otherwise the work runs, and its answer is recorded when it is final: `sent`, or an error
 *   that a retry cannot change (FINAL_ERRORS). A transient error (not_connected, busy,
 *   send_failed) is not recorded, so the client's retry really tries again;
 * - a request id seen with another request (a different digest: `requestDigest`) is refused
 *   with `bad_request`, never answered with the other request's outcome.
 *
 * At most `limit` (1000) outcomes are kept, the newest. They live in memory and in
 * `<state-dir>/outcomes.jsonl`, one JSON line per outcome, appended and fsync-ed before the
 * answer goes out, so a bridge restart keeps them (a kill -9 between the send and that write
 * is the one window where a repeat sends again). When the file holds twice the limit it is
 * rewritten with the kept ones (atomic.mjs); a torn or damaged line (a crash mid-write) is
 * skipped when the log is opened, and the file rewritten without it. Writes run one at a time.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

import { writeFileAtomic } from './atomic.mjs';
import { MAX_REQUEST_ID_CHARS, errorFrame } from './frames.mjs';

export const OUTCOME_LIMIT = 1000;
export const OUTCOME_FILE = 'outcomes.jsonl';
export const FINAL_ERRORS = Object.freeze(new Set(['path_refused', 'too_large']));

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const APPEND_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
const DIGEST = /^[0-9a-f]{64}$/;

/**
 * The digest (64 hex) of what a parsed send request asks for, its request id aside: a repeat
 * must ask for exactly the same.
 */
export function requestDigest(request) {
  const asked =
    request.type === 'send'
      ? [request.type, request.to, request.text, request.replyTo]
      : [request.type, request.to, request.path, request.caption, request.kind];
  return createHash('sha256').update(JSON.stringify(asked), 'utf8').digest('hex');
}

export class OutcomeLog {
  #path;
  #limit;
  #outcomes = new Map(); // request id -> { digest, answer }, oldest first
  #running = new Map(); // request id -> { digest, answer: Promise } of work not finished yet
  #lines = 0; // lines in the file
  #queue = Promise.resolve();

  constructor(path, { limit }) {
    this.#path = path;
    this.#limit = limit;
  }

  /**
   * The log in `dir` (an existing private directory: the PendingStore makes it), with the
   * outcomes a previous run recorded; damaged lines are reported through `log(level, text)`.
   */
  static async open(dir, { limit = OUTCOME_LIMIT, log }) {
    const outcomes = new OutcomeLog(join(dir, OUTCOME_FILE), { limit });
    const damaged = await outcomes.#load();
    if (damaged > 0) {
      log('warn', `${damaged} damaged line(s) of ${OUTCOME_FILE} skipped`);
    }
    if (damaged > 0 || outcomes.#lines > limit) {
      await outcomes.#rewrite();
    }
    return outcomes;
  }

  /** How many outcomes are kept. */
  get size() {
    return this.#outcomes.size;
  }

  /**
   * The answer frame for request `requestId` asking for `digest` (see the module doc).
   * `perform()` does the work and resolves to its answer frame (`sent` or `error`); it must not
   * reject. When a final answer cannot be written to the file, `onRecordFailure(error)` is
   * called and the answer is still returned (the message went out; it is remembered in memory).
   */
  async answer(requestId, digest, perform, onRecordFailure) {
    const known = this.#outcomes.get(requestId) ?? this.#running.get(requestId);
    if (known !== undefined) {
      if (known.digest !== digest) {
        return errorFrame(requestId, 'bad_request', 'this request_id was used for another request');
      }
      return known.answer;
    }
    const answer = perform().then(async (frame) => {
      if (frame.type === 'sent' || FINAL_ERRORS.has(frame.code)) {
        await this.#record(requestId, digest, frame).catch(onRecordFailure);
      }
      return frame;
    });
    this.#running.set(requestId, { digest, answer });
    try {
      return await answer;
    } finally {
      this.#running.delete(requestId);
    }
  }

  #record(requestId, digest, answer) {
    const work = this.#queue.then(async () => {
      this.#remember(requestId, digest, answer);
      if (this.#lines + 1 >= 2 * this.#limit) {
        await this.#rewrite();
        return;
      }
      const handle = await open(this.#path, APPEND_FLAGS, 0o600);
      try {
        await handle.writeFile(`${JSON.stringify({ request_id: requestId, digest, answer })}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      this.#lines += 1;
    });
    this.#queue = work.catch(() => {});
    return work;
  }

  #remember(requestId, digest, answer) {
    this.#outcomes.delete(requestId);
    this.#outcomes.set(requestId, { digest, answer });
    while (this.#outcomes.size > this.#limit) {
      this.#outcomes.delete(this.#outcomes.keys().next().value);
    }
  }

  /** Read the file into memory; how many lines were damaged. */
  async #load() {
    let text;
    try {
      const handle = await open(this.#path, READ_FLAGS);
      try {
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (error.code === 'ENOENT') return 0;
      throw error;
    }
    const lines = text.split('\n');
    const torn = lines.pop() !== ''; // a complete file ends with a newline
    let damaged = torn ? 1 : 0;
    for (const line of lines) {
      const entry = parseLine(line);
      if (entry === null) {
        damaged += 1;
        continue;
      }
      this.#remember(entry.request_id, entry.digest, entry.answer);
    }
    this.#lines = lines.length + (torn ? 1 : 0);
    return damaged;
  }

  async #rewrite() {
    const lines = [...this.#outcomes].map(
      ([requestId, { digest, answer }]) => `${JSON.stringify({ request_id: requestId, digest, answer })}\n`,
    );
    await writeFileAtomic(this.#path, lines.join(''));
    this.#lines = lines.length;
  }
}

/** One recorded outcome, checked; null for a line that is not one. */
function parseLine(line) {
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return null;
  }
  const requestId = entry?.request_id;
  const answer = entry?.answer;
  if (
    typeof requestId !== 'string' ||
    requestId.length === 0 ||
    requestId.length > MAX_REQUEST_ID_CHARS ||
    typeof entry.digest !== 'string' ||
    !DIGEST.test(entry.digest) ||
    typeof answer !== 'object' ||
    answer === null ||
    answer.request_id !== requestId ||
    !(answer.type === 'sent' ? typeof answer.id === 'string' : answer.type === 'error' && FINAL_ERRORS.has(answer.code))
  ) {
    return null;
  }
  return entry;
}
