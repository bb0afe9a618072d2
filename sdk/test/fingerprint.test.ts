import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fingerprint } from '../src/fingerprint';

const at = (line: number) => `Error: boom\n    at f (https://a.example/app.js:${line}:1)`;

test('the same error from the same place is one fingerprint, numbers aside', () => {
  const a = fingerprint({ type: 'error', message: 'Error: item 17 missing', stack: at(3) });
  const b = fingerprint({ type: 'error', message: 'Error: item 42 missing', stack: at(3) });
  assert.equal(a, b);
  assert.match(a, /^[0-9a-f]{1,8}$/);
});

test('another place, message or type is another fingerprint', () => {
  const base = fingerprint({ type: 'error', message: 'Error: boom', stack: at(3) });
  assert.notEqual(base, fingerprint({ type: 'error', message: 'Error: boom', stack: at(4) }));
  assert.notEqual(base, fingerprint({ type: 'error', message: 'Error: bang', stack: at(3) }));
  assert.notEqual(base, fingerprint({ type: 'message', message: 'Error: boom', stack: at(3) }));
});

test('a failed resource is told apart by its URL', () => {
  const a = fingerprint({ type: 'resource_error', target: 'https://cdn.example/a.js' });
  assert.notEqual(a, fingerprint({ type: 'resource_error', target: 'https://cdn.example/b.js' }));
});
