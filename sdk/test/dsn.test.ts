import assert from 'node:assert/strict';
import { test } from 'node:test';

import { endpoint } from '../src/dsn';

test('a DSN becomes the native endpoint, key in the query string', () => {
  assert.equal(endpoint('http://abc123@localhost:8080/1'), 'http://localhost:8080/api/1/events?key=abc123');
  assert.equal(endpoint('https://k@mon.example.com/42'), 'https://mon.example.com/api/42/events?key=k');
});

test('a path prefix is kept before /api', () => {
  assert.equal(endpoint('https://k@example.com/monitor/v2/7'), 'https://example.com/monitor/v2/api/7/events?key=k');
  assert.equal(endpoint('https://k@example.com/7/'), 'https://example.com/api/7/events?key=k');
});

test("a Sentry DSN's secret (key:secret@) is not sent", () => {
  assert.equal(endpoint('https://k:s3cret@example.com/3'), 'https://example.com/api/3/events?key=k');
});

test('anything else is refused', () => {
  for (const dsn of ['', 'localhost/1', 'ftp://k@host/1', 'http://host/1', 'http://k@host/', 'http://k@host/abc', 'http://k@host/1?x=y']) {
    assert.equal(endpoint(dsn), undefined, dsn);
  }
});
