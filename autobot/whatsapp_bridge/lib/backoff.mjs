/**
 * How long to wait before reconnecting to WhatsApp after the `attempt`-th failure in a row:
 * exponential from `baseMs`, capped at `maxMs`, with full jitter from the injected
 * `random()` (in [0, 1)) so that many bridges restarted together do not reconnect together.
 */
export const RECONNECT_BASE_MS = 1000;
export const RECONNECT_MAX_MS = 60_000;

export function reconnectDelayMs(attempt, random, { baseMs = RECONNECT_BASE_MS, maxMs = RECONNECT_MAX_MS } = {}) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
