import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FailedHandshakeLimiter } from '../lib/ratelimit.mjs';

test('5 failures within 60 s block for 60 s, then the count starts again', () => {
  let now = 0;
  const limiter = new FailedHandshakeLimiter({ now: () => now });
  for (const time of [0, 10_000, 20_000, 30_000]) {
    now = time;
    limiter.recordFailure();
    assert.equal(limiter.blocked(), false);
  }
  now = 59_999;
  limiter.recordFailure();
  assert.equal(limiter.blocked(), true);
  now = 59_999 + 59_999;
  assert.equal(limiter.blocked(), true);
  now = 59_999 + 60_000;
  assert.equal(limiter.blocked(), false);
  limiter.recordFailure();
  assert.equal(limiter.blocked(), false, 'the failures before the block do not count again');
});

test('a failure older than the window no longer counts', () => {
  let now = 0;
  const limiter = new FailedHandshakeLimiter({ now: () => now });
  limiter.recordFailure(); // at 0
  for (const time of [60_000, 60_001, 60_002]) {
    now = time;
    limiter.recordFailure();
  }
  now = 60_003;
  limiter.recordFailure(); // the 5th, but the one at 0 is 60 s old
  assert.equal(limiter.blocked(), false);
  limiter.recordFailure();
  assert.equal(limiter.blocked(), true);
});

test('now must be a function', () => {
  assert.throws(() => new FailedHandshakeLimiter({ now: 5 }), TypeError);
});
