// The hub: options, scope (user, tags, breadcrumbs), the path of every event (sampling,
// filters, caps, beforeSend, common fields) and the public API.
import type { Breadcrumb, FmEvent, Hub, Level, Options } from './types';
import { endpoint } from './dsn';
import { fingerprint } from './fingerprint';
import { sessions } from './session';
import { describe, parseStack } from './stack';
import { transport, type Transport } from './transport';
import { hash, matches, now, safe, uid } from './util';

const ERRORS = ['error', 'resource_error', 'api_error', 'white_screen', 'message'];
/** Not counted against the per-page cap: one page makes only a few of them. */
const UNCAPPED = ['pageview', 'session', 'vital'];
const CRUMBS = 20;

let hub: Hub | undefined;
let sender: Transport | undefined;
let user: { id?: string | number } | undefined;
const tags: Record<string, string> = {};
const crumbs: Breadcrumb[] = [];

export function init(o: Options): void {
  try {
    start(o);
  } catch {
    // A page the SDK cannot run on gets no monitoring, never an error of ours.
  }
}

function start(o: Options): void {
  if (hub || typeof window === 'undefined') return;
  const url = endpoint(o.dsn || '');
  if (!url) return;
  const routeOf = o.route || ((l: Location) => (/^#\//.test(l.hash) ? l.hash.slice(1).split('?')[0] : l.pathname));
  // Storage is read at the first event, not in init: a page's first localStorage access
  // costs milliseconds of main thread.
  let stored: ReturnType<typeof sessions> | undefined;
  let sessionKept = true;
  const session = () => {
    if (!stored) {
      stored = sessions(o.anonymousVisitorId !== false);
      sessionKept = parseInt(hash(stored.touch().id), 16) / 0xffffffff < (o.sessionSampleRate ?? 1);
    }
    return stored;
  };
  const out = (sender = transport(url, o.batchSize || 20, o.flushIntervalMs || 3000));
  const routeListeners: Array<(from: string) => void> = [];
  const leaveListeners: Array<(exit: boolean) => void> = [];
  let onPage = 0;

  const h: Hub = (hub = {
    o,
    own: (u) => u.indexOf(url.split('?')[0]) === 0,
    route: () => routeOf(location),
    onRoute: (cb) => routeListeners.push(cb),
    onLeave: (cb) => leaveListeners.push(cb),
    session: () => session().touch(),
    crumb(b) {
      crumbs.push({ timestamp: now(), ...b });
      if (crumbs.length > CRUMBS) crumbs.shift();
    },
    capture(e, fp) {
      const ids = session();
      const isError = ERRORS.indexOf(e.type) >= 0;
      if (isError ? Math.random() >= (o.sampleRate ?? 1) : !sessionKept) return;
      if (isError && matches(String(e.message), o.ignoreErrors)) return;
      const top = parseStack(e.stack)[0];
      if (matches(String(e.target || (top && top.file) || ''), o.denyUrls)) return;
      if (UNCAPPED.indexOf(e.type) < 0 && onPage >= (o.maxEventsPerPage || 100)) return;
      const s = ids.touch();
      if (isError) {
        const f = fp || fingerprint(e);
        if ((s.fp[f] = (s.fp[f] || 0) + 1) > (o.maxEventsPerFingerprint || 5)) return;
      }
      const event: FmEvent = {
        event_id: uid(),
        timestamp: now(),
        url: location.href,
        route: h.route(),
        release: o.release,
        environment: o.environment,
        session_id: s.id,
        visitor_id: ids.visitor,
        user,
        ...e,
        tags: { ...tags, ...(e.tags as object) },
      };
      if (e.type === 'error') event.breadcrumbs = crumbs.slice();
      let kept: FmEvent | null | undefined | false = event;
      if (o.beforeSend) {
        try {
          kept = o.beforeSend(event);
        } catch {
          kept = event;
        }
      }
      if (!kept) return;
      if (UNCAPPED.indexOf(e.type) < 0) onPage++;
      if (isError) s.errors++;
      if (e.type === 'pageview') s.pages++;
      out.add(kept);
      return kept.event_id;
    },
  });

  // SPA route changes: history.pushState/replaceState, popstate, hashchange.
  let here = location.href;
  const moved = safe(() => {
    if (location.href === here) return;
    const from = here;
    here = location.href;
    h.crumb({ category: 'navigation', message: from + ' -> ' + here });
    for (const cb of routeListeners) safe(cb)(from);
  });
  if (o.spa !== false) {
    for (const name of ['pushState', 'replaceState'] as const) {
      const orig = history[name];
      history[name] = function (this: History) {
        const r = orig.apply(this, arguments as any);
        moved();
        return r;
      };
    }
    addEventListener('popstate', moved);
    addEventListener('hashchange', moved);
  }

  // Never `unload`: it breaks the back/forward cache, and mobile browsers skip it.
  const leave = safe((exit: boolean) => {
    for (const cb of leaveListeners) safe(cb)(exit);
    if (stored) stored.save();
    out.leave();
  });
  addEventListener('visibilitychange', () => document.visibilityState === 'hidden' && leave(false));
  addEventListener('pagehide', () => leave(true));

  for (const p of o.plugins || []) safe(p)(h);
}

export function captureException(
  err: unknown,
  ctx?: { tags?: Record<string, string>; extra?: Record<string, unknown>; mechanism?: string },
): string | undefined {
  return safe(() => hub && hub.capture({ type: 'error', ...describe(err), mechanism: (ctx && ctx.mechanism) || 'manual', tags: ctx && ctx.tags, extra: ctx && ctx.extra }))();
}

export function captureMessage(message: string, level: Level = 'info'): string | undefined {
  return safe(() => hub && hub.capture({ type: 'message', message: String(message), level }))();
}

export function track(name: string, data?: unknown): string | undefined {
  return safe(() => hub && hub.capture({ type: 'custom', name: String(name), data }))();
}

export function setUser(u: { id?: string | number } | null): void {
  user = (u && { id: u.id }) || undefined;
}

export function setTag(key: string, value: string): void {
  tags[String(key)] = String(value);
}

export function addBreadcrumb(b: Omit<Breadcrumb, 'category'> & { category?: Breadcrumb['category'] }): void {
  safe(() => hub && hub.crumb({ category: 'custom', ...b }))();
}

/** Sends everything queued now; resolves once the collector has answered. */
export function flush(): Promise<void> {
  return (sender && sender.flush().catch(() => undefined)) || Promise.resolve();
}
