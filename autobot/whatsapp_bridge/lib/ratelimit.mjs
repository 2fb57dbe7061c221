/**
 * The global limit on failed handshakes, as a small state machine of injected time.
 *
 * `FailedHandshakeLimiter` owns the recent failure times and the end of the current block.
 * After `maxFailures` failures within `windowMs`, `blocked()` is true for `blockMs`
 * (new upgrades get HTTP 429); then the count starts again from zero. It is global, not per
 * peer: Unix-socket peers have no address. `now` is a function returning milliseconds.
 */
export const MAX_FAILURES = 5;
export const FAILURE_WINDOW_MS = 60_000;
export const BLOCK_MS = 60_000;

export class FailedHandshakeLimiter {
  #failures = [];
  #blockedUntil = -Infinity;

  constructor({ now, maxFailures = MAX_FAILURES, windowMs = FAILURE_WINDOW_MS, blockMs = BLOCK_MS }) {
    if (typeof now !== 'function') {
      throw new TypeError('now must be a function returning milliseconds');
    }
    this.now = now;
    this.maxFailures = maxFailures;
    this.windowMs = windowMs;
    this.blockMs = blockMs;
  }

  /** True while new upgrades must be refused. */
  blocked() {
    return this.now() < this.#blockedUntil;
  }

  /** Count one failed handshake; the `maxFailures`-th within the window starts a block. */
  recordFailure() {
    const now = this.now();
    this.#failures = this.#failures.filter((time) => now - time < this.windowMs);
    this.#failures.push(now);
    if (this.#failures.length >= this.maxFailures) {
      this.#blockedUntil = now + this.blockMs;
      this.#failures = [];
    }
  }
}
