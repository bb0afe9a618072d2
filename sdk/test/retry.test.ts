import assert from 'node:assert/strict';
import { test } from 'node:test';

import { backoff, retryAfter, sentryLimits } from '../src/retry';

test('backoff doubles from 1 s, capped at 60 s, with jitter between half and all of it', () => {
  assert.equal(backoff(0, 0), 500);
  assert.equal(backoff(0, 1), 1000);
  assert.equal(backoff(3, 1), 8000);
  assert.equal(backoff(20, 1), 60000);
  assert.equal(backoff(20, 0), 30000);
  for (let i = 0; i < 100; i++) {
    const ms = backoff(2);
    assert.ok(ms >= 2000 && ms <= 4000, String(ms));
  }
});

test('Retry-After in seconds or as an HTTP date', () => {
  assert.equal(retryAfter('5', 0), 5000);
  assert.equal(retryAfter(' 60 ', 0), 60000);
  const now = Date.parse('2026-12-07T12:00:00Z');
  assert.equal(retryAfter('Mon, 07 Dec 2026 12:00:30 GMT', now), 30000);
  assert.equal(retryAfter('Mon, 07 Dec 2026 11:00:00 GMT', now), 0);
  assert.equal(retryAfter(null, now), undefined);
  assert.equal(retryAfter('soon', now), undefined);
});

test('X-Sentry-Rate-Limits: the longest limit on errors or on everything', () => {
  assert.equal(sentryLimits('60::project'), 60000);
  assert.equal(sentryLimits('60:error;transaction:project'), 60000);
  assert.equal(sentryLimits('10:transaction:project, 30:default:org'), 30000);
  assert.equal(sentryLimits('120:transaction:project'), undefined);
  assert.equal(sentryLimits('60'), 60000);
  assert.equal(sentryLimits('x::project'), undefined);
  assert.equal(sentryLimits(undefined), undefined);
});
