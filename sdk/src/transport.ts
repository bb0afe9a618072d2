// Getting events to the collector without losing them and without hurting the page: batches,
// simple (preflight-free) requests, a beacon when the page goes away, retries with backoff, a
// pause on 429, and a small queue in localStorage for a page that goes offline.
import type { FmEvent } from './types';
import { bodies, utf8Bytes } from './batch';
import { backoff, retryAfter, sentryLimits } from './retry';
import { now, safe, store } from './util';

/** sendBeacon and keepalive fetch share 64 KiB of in-flight bodies per page. */
const BODY_MAX = 60_000;
const MEMORY_MAX = 1000;
const ATTEMPTS = 6;
const SAVED_KEY = '__fm_q';
const SAVED_MAX = 50;
const SAVED_BYTES = 100_000;
/** "Paused until" of a 429, for the next pages of the origin; never believed beyond a day. */
const PAUSE_KEY = '__fm_p';
const PAUSE_MAX = 86_400_000;

export interface Transport {
  add(e: FmEvent): void;
  flush(): Promise<void>;
  /** The page is going away: everything now, by beacon. */
  leave(): void;
}

/** `post`: the page's fetch (if it has one) as it was before any plugin wrapped it: it captures none of these requests. */
export function transport(url: string, post: typeof fetch, batchSize: number, intervalMs: number): Transport {
  const local = store('localStorage');
  // Attempts so far, per event, kept beside it rather than sent.
  const tries = new Map<FmEvent, number>();
  let queue: FmEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let due = 0;
  let pausedUntil = 0;
  let pauseRead = false;
  let keepaliveBytes = 0;

  // Whether a 429 (of this page or an earlier one of the origin) still forbids sending. The
  // stored pause is read at the first need, not in init: localStorage is not free.
  const paused = () => {
    if (!pauseRead) {
      pauseRead = true;
      const at = local.get(PAUSE_KEY);
      if (typeof at === 'number') pausedUntil = Math.max(pausedUntil, Math.min(at, now() + PAUSE_MAX));
    }
    return now() < pausedUntil;
  };

  const schedule = (ms: number) => {
    paused();
    const at = now() + Math.max(ms, pausedUntil - now());
    if (timer && due <= at) return;
    clearTimeout(timer);
    due = at;
    timer = setTimeout(
      safe(() => {
        timer = undefined;
        flush();
      }),
      at - now(),
    );
  };

  const add = (e: FmEvent) => {
    queue.push(e);
    if (queue.length > MEMORY_MAX) tries.delete(queue.shift()!);
    if (queue.length >= batchSize && !paused()) flush();
    else schedule(intervalMs);
  };

  const requeue = (events: FmEvent[], wait: number) => {
    const kept = events.filter((e) => {
      const n = (tries.get(e) || 0) + 1;
      tries.set(e, n);
      if (n >= ATTEMPTS) tries.delete(e);
      return n < ATTEMPTS;
    });
    queue = kept.concat(queue);
    if (kept.length) schedule(wait);
  };

  // Offline with nowhere to send: kept for the next page of this origin.
  // What is stored under the key, if it is a list of events (it may be anything).
  const saved = (): FmEvent[] => {
    const list = local.get(SAVED_KEY);
    return Array.isArray(list) ? list.filter((e) => e && typeof e.type === 'string') : [];
  };

  const save = (events: FmEvent[]) => {
    const kept = saved().concat(events).slice(-SAVED_MAX);
    while (kept.length && JSON.stringify(kept).length > SAVED_BYTES) kept.shift();
    local.set(SAVED_KEY, kept);
  };

  const send = (body: string, events: FmEvent[]): Promise<void> => {
    const size = utf8Bytes(body);
    // keepalive shares its 64 KiB with the page's own keepalive requests and beacons: a
    // retry goes without it, so a quota someone else used up cannot fail it again.
    const keepalive = !tries.get(events[0]) && keepaliveBytes + size <= BODY_MAX;
    if (keepalive) keepaliveBytes += size;
    const done = () => {
      if (keepalive) keepaliveBytes -= size;
    };
    return post(url, { method: 'POST', body, keepalive, credentials: 'omit' }).then(
      (res) => {
        done();
        const s = res.status;
        const after = retryAfter(res.headers.get('retry-after'), now());
        if (s === 429) {
          pausedUntil = now() + Math.min(PAUSE_MAX, sentryLimits(res.headers.get('x-sentry-rate-limits')) || after || 60_000);
          // A reload or the next page must not send during the pause either.
          local.set(PAUSE_KEY, pausedUntil);
          queue = events.concat(queue);
          schedule(0);
        } else if (s === 408 || s >= 500) {
          requeue(events, after || backoff(tries.get(events[0]) || 0));
        } else if (s < 300) {
          // An answer proves the way is open: what this or another page saved goes too,
          // even if no 'online' event or storage event told this page about it.
          drain();
        }
        // 2xx: stored, except those named in `refused`, which a retry would not mend;
        // any other 4xx: the same for the whole batch.
      },
      () => {
        done();
        if (navigator.onLine === false) save(events);
        else requeue(events, backoff(tries.get(events[0]) || 0));
      },
    );
  };

  const flush = (): Promise<void> => {
    if (!post || !queue.length || paused()) {
      if (queue.length) schedule(0);
      return Promise.resolve();
    }
    clearTimeout(timer);
    timer = undefined;
    const events = queue;
    queue = [];
    // Offline, a request would only fail later, and a page closed before it failed would
    // lose the events: they go to the saved queue now, and 'online' or the next page sends them.
    if (navigator.onLine === false) return Promise.resolve(save(events));
    return Promise.all(bodies(events, BODY_MAX).map((b) => send(b.body, b.events))).then(() => undefined);
  };

  const leave = () => {
    const events = queue;
    queue = [];
    if (!events.length) return;
    if (navigator.onLine === false || paused() || !navigator.sendBeacon) return save(events);
    for (const b of bodies(events, BODY_MAX)) {
      if (!navigator.sendBeacon(url, b.body)) save(b.events);
    }
  };

  // Back online, or a new page: what could not be sent then goes now, with the ids it had.
  const drain = safe(() => {
    const list = saved();
    local.set(SAVED_KEY, undefined);
    queue = queue.concat(list);
    flush();
  });
  // Created by the setup, whose same task reads localStorage for the session; before any event of
  // this page is queued, so the saved ones go first and this page's wait for their batch.
  drain();
  addEventListener('online', drain);
  // Another page of the origin saved events (it went away offline): its write can reach this
  // page's storage after the drain above, so it is taken when it arrives.
  addEventListener('storage', (e) => {
    if (e.key === SAVED_KEY && e.newValue && navigator.onLine !== false) drain();
  });

  return { add, flush, leave };
}
