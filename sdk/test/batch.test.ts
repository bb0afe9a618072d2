import assert from 'node:assert/strict';
import { test } from 'node:test';

import { bodies, utf8Bytes } from '../src/batch';
import type { FmEvent } from '../src/types';

const ev = (n: number, type = 'error', pad = 0): FmEvent => ({ type, event_id: String(n), message: 'x'.repeat(pad) });

test('events fit in one body when small', () => {
  const out = bodies([ev(1), ev(2)], 60000);
  assert.equal(out.length, 1);
  assert.deepEqual(JSON.parse(out[0].body), [ev(1), ev(2)]);
});

test('bodies stay under the byte limit, in order, nothing lost', () => {
  const events = Array.from({ length: 30 }, (_, i) => ev(i, 'error', 5000));
  const out = bodies(events, 60000);
  assert.ok(out.length >= 3);
  for (const b of out) assert.ok(Buffer.byteLength(b.body) <= 60000, String(b.body.length));
  assert.deepEqual(out.flatMap((b) => JSON.parse(b.body).map((e: FmEvent) => e.event_id)), events.map((e) => e.event_id));
});

test('multi-byte text is counted in bytes', () => {
  const events = Array.from({ length: 10 }, (_, i) => ({ type: 'error', event_id: String(i), message: 'é'.repeat(4000) }));
  for (const b of bodies(events, 20000)) assert.ok(Buffer.byteLength(b.body) <= 20000);
});

test('at most 100 events per body', () => {
  const out = bodies(Array.from({ length: 250 }, (_, i) => ev(i)), 1e9);
  assert.deepEqual(out.map((b) => b.events.length), [100, 100, 50]);
});

test('an event over the limit alone still gets a body', () => {
  const out = bodies([ev(1), ev(2, 'error', 70000), ev(3)], 60000);
  assert.deepEqual(out.map((b) => b.events.map((e) => e.event_id)), [['1'], ['2'], ['3']]);
});

test('every kind travels in the same body, in order', () => {
  const out = bodies([ev(1), ev(2, 'session'), ev(3, 'pageview'), ev(4, 'white_screen'), ev(5, 'message')], 60000);
  assert.deepEqual(out.map((b) => b.events.map((e) => e.event_id)), [['1', '2', '3', '4', '5']]);
});

test('an event that cannot be serialized (a cycle, a BigInt) is dropped, not thrown', () => {
  const cyclic: FmEvent = { type: 'custom', event_id: 'c', name: 'x' };
  cyclic.data = cyclic;
  const big: FmEvent = { type: 'custom', event_id: 'b', name: 'x', data: BigInt(1) };
  const out = bodies([ev(1), cyclic, big, ev(2)], 60000);
  assert.deepEqual(out.map((b) => b.events.map((e) => e.event_id)), [['1', '2']]);
});

test('utf8Bytes is never below the real UTF-8 size', () => {
  for (const s of ['abc', 'é', '日本語', '😀', 'a😀é日']) {
    assert.ok(utf8Bytes(s) >= Buffer.byteLength(s), s);
  }
  assert.equal(utf8Bytes('abc'), 3);
});
