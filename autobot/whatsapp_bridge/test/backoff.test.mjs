import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RECONNECT_MAX_MS, reconnectDelayMs } from '../lib/backoff.mjs';

test('the ceiling doubles from 1 s up to 60 s; full jitter below it', () => {
  const top = () => 0.999999;
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 50].map((attempt) => Math.round(reconnectDelayMs(attempt, top) / 1000)),
    [1, 2, 4, 8, 16, 32, 60, 60, 60],
  );
  assert.equal(
    reconnectDelayMs(9, () => 0),
    0,
  );
  assert.equal(
    reconnectDelayMs(9, () => 0.5),
    RECONNECT_MAX_MS / 2,
  );
});
