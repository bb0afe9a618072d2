import assert from 'node:assert/strict';
import { test } from 'node:test';

import { describe, parseStack } from '../src/stack';

test('a V8 stack: named, anonymous and async frames, innermost first', () => {
  const stack = [
    "TypeError: Cannot read properties of undefined (reading 'x')",
    '    at renderCart (https://shop.example/app.js:10:5)',
    '    at https://shop.example/app.js:20:7',
    '    at async submit (https://shop.example/pay.js:3:1)',
    '    at Array.forEach (<anonymous>)',
  ].join('\n');
  assert.deepEqual(parseStack(stack), [
    { fn: 'renderCart', file: 'https://shop.example/app.js', line: 10, col: 5 },
    { fn: undefined, file: 'https://shop.example/app.js', line: 20, col: 7 },
    { fn: 'submit', file: 'https://shop.example/pay.js', line: 3, col: 1 },
    { fn: 'Array.forEach', file: '<anonymous>', line: undefined, col: undefined },
  ]);
});

test('a Firefox / Safari stack', () => {
  const stack = 'renderCart@https://shop.example/app.js:10:5\n@https://shop.example/app.js:20:7\n';
  assert.deepEqual(parseStack(stack), [
    { fn: 'renderCart', file: 'https://shop.example/app.js', line: 10, col: 5 },
    { fn: undefined, file: 'https://shop.example/app.js', line: 20, col: 7 },
  ]);
});

test('no stack, no frames', () => {
  assert.deepEqual(parseStack(undefined), []);
  assert.deepEqual(parseStack('Error: just a message'), []);
  assert.deepEqual(parseStack('Error: no mail for user@example.com'), []);
});

test('what was thrown becomes "Type: message"', () => {
  assert.equal(describe(new TypeError('x is undefined')).message, 'TypeError: x is undefined');
  assert.match(describe(new Error('e')).stack ?? '', /^Error: e\n/);
  assert.equal(describe('plain').message, 'Non-Error thrown: plain');
  assert.equal(describe({ code: 402 }).message, 'Non-Error thrown: {"code":402}');
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.equal(describe(cyclic).message, 'Non-Error thrown: [object Object]');
});
