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

// The regular expression the reading by hand replaced (src/dsn.ts says why): both must agree
// on every DSN, read or refused.
const BEFORE = /^(https?:\/\/)([^:@/]+)(?::[^@/]*)?@([^/?#]+)((?:\/[^/?#]+)*)\/(\d+)\/?$/;
function before(dsn: string): string | undefined {
  const m = BEFORE.exec(dsn);
  return m ? `${m[1]}${m[3]}${m[4]}/api/${m[5]}/events?key=${encodeURIComponent(m[2])}` : undefined;
}

test('it reads every DSN as the regular expression it replaced did', () => {
  const cases = [
    'http://k@h/1',
    'http://k@h/1/',
    'http://k@h/1//',
    'http://k@h//1',
    'http://k@h/a//1',
    'http://k@h/a/b/12',
    'http://k:@h/1',
    'http://:s@h/1',
    'http://k:a:b@h/1',
    'http://k@a@b/1',
    'http://k?x#y@h/1',
    'http://k/x@h/1',
    'http://k@/1',
    'http://k@h',
    'http://k@h/1#f',
    'http://k@h/١',
    'https://k@h:8080/p/9',
    'HTTP://k@h/1',
    'http://k@h/ 1',
    'http://k@h/1\n',
  ];
  // And many more, each a scheme, a key, a host and a path made of pieces that matter, in
  // every combination a seeded generator makes.
  const pieces = [
    ['http://', 'https://', '', 'ftp://', 'http:/'],
    ['k', 'key', 'k:s', 'k:', ':s', '', 'k/', 'k?', 'k@'],
    ['@', '', '@@', ':@'],
    ['h', 'h:8080', 'a.b', '', 'h?', 'h#', 'h@g'],
    ['/1', '/42/', '/p/1', '/p/q/7', '', '/', '//1', '/p//1', '/1//', '/x', '/1?x', '/1#', '/1 ', '/p/1/'],
  ];
  let seed = 7;
  const next = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  for (let i = 0; i < 20000; i++) cases.push(pieces.map((p) => p[next(p.length)]).join(''));
  let read = 0;
  for (const dsn of cases) {
    assert.equal(endpoint(dsn), before(dsn), JSON.stringify(dsn));
    if (before(dsn)) read++;
  }
  // The generator makes DSNs that are read, not only ones that are refused.
  assert.ok(read > 100, `${read} read`);
});
