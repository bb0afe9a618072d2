import type { FmEvent } from './types';

/** The collector's `collector.max_batch`. */
const MAX_EVENTS = 100;

/**
 * JSON arrays of the events, every kind together, each body under `max` bytes and 100 events
 * (sendBeacon and keepalive fetch share a 64 KiB budget). An event alone over `max` still gets
 * a body of its own: a non-keepalive fetch can carry it.
 */
export function bodies(events: FmEvent[], max: number): Array<{ body: string; events: FmEvent[] }> {
  const out: Array<{ body: string; events: FmEvent[] }> = [];
  let parts: string[] = [];
  let group: FmEvent[] = [];
  let size = 2;
  const close = () => {
    if (group.length) out.push({ body: '[' + parts.join(',') + ']', events: group });
    parts = [];
    group = [];
    size = 2;
  };
  for (const e of events) {
    let json: string;
    try {
      json = JSON.stringify(e);
    } catch {
      // A cycle or a BigInt in `data` or `extra`: the event cannot be sent, its neighbours can.
      continue;
    }
    const bytes = utf8Bytes(json);
    if (group.length && (size + bytes + 1 > max || group.length >= MAX_EVENTS)) close();
    parts.push(json);
    group.push(e);
    size += bytes + 1;
  }
  close();
  return out;
}

/** At least the UTF-8 size of `s` (3 bytes for any non-ASCII code unit), without encoding it. */
export function utf8Bytes(s: string): number {
  return s.length + (s.match(/[^\x00-\x7f]/g) || []).length * 2;
}
