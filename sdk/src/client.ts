// The hub: options, scope (user, tags, breadcrumbs), the path of every event (sampling,
// filters, caps, beforeSend, common fields) and the public API. `init` builds only the hub and
// the hooks; the path is built by the setup, in the tasks right after it (setup.ts).
import type { Breadcrumb, FmEvent, Hub, Level, Options } from './types';
import { endpoint } from './dsn';
import { fingerprint } from './fingerprint';
import { sessions } from './session';
import { later, ready, setUpSoon } from './setup';
import { describe, parseStack } from './stack';
import { transport, type Transport } from './transport';
import { hash, matches, now, safe, uid } from './util';

const ERRORS = ['error', 'resource_error', 'api_error', 'white_screen', 'message'];
/** Not counted against the per-page cap: one page makes only a few of them. */
const UNCAPPED = ['pageview', 'session', 'vital'];
const CRUMBS = 20;
/** Events kept for the setup: more than a page sends by default (`maxEventsPerPage`). */
const EARLY_MAX = 100;

let hub: Hub | undefined;
/** Built by the setup's first part. */
let path: Path | undefined;
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

/** The path of every event, built by the setup's first part. */
interface Path {
  capture: Hub['capture'];
  session: Hub['session'];
  /** The page is hidden or goes away: the session saved, the queue sent. */
  leave(): void;
}

// What must happen in init itself and no more: the hub, the plugins' hooks that must see the
// page from its first moment, and `pagehide`. Events captured before the setup wait in a list,
// as they were when they happened (time, page, route, breadcrumbs); the setup builds them.
function start(o: Options): void {
  if (hub || typeof window === 'undefined') return;
  const url = endpoint(o.dsn || '');
  if (!url) return;
  // Before any plugin wraps fetch: the SDK's own requests are never captured. Bound in the
  // setup: init does only what cannot wait.
  const pageFetch = window.fetch;
  const routeListeners: Array<(from: string) => void> = [];
  const leaveListeners: Array<(exit: boolean) => void> = [];
  const early: Array<[FmEvent, string | undefined]> = [];

  const h: Hub = (hub = {
    o,
    own: (u) => u.indexOf(url.split('?')[0]) === 0,
    route: () => (o.route || routeOf)(location),
    onRoute: (cb) => routeListeners.push(cb),
    onLeave: (cb) => leaveListeners.push(cb),
    session() {
      if (!path) ready();
      return path!.session();
    },
    crumb(b) {
      crumbs.push({ timestamp: now(), ...b });
      if (crumbs.length > CRUMBS) crumbs.shift();
    },
    capture(e, fp) {
      if (path) return path.capture(e, fp);
      if (early.length >= EARLY_MAX) return;
      const then: FmEvent = { timestamp: now(), url: location.href, route: h.route(), ...e };
      if (e.type === 'error') then.breadcrumbs = crumbs.slice();
      early.push([then, fp]);
    },
  });

  // Never `unload`: it breaks the back/forward cache, and mobile browsers skip it. A page that
  // goes away before the setup is done has it done now: what it captured goes too.
  const leave = safe((exit: boolean) => {
    ready();
    for (const cb of leaveListeners) safe(cb)(exit);
    path!.leave();
  });
  addEventListener('pagehide', () => leave(true));

  // The setup's first part, before the plugins' parts: they capture through it.
  later(() => {
    // Hidden is not gone: a page hidden before this part still runs it (its timers go on).
    addEventListener('visibilitychange', () => document.visibilityState === 'hidden' && leave(false));
    if (o.spa !== false) follow(h, routeListeners);
    const built = setup(h, (sender = transport(url, pageFetch && pageFetch.bind(window), o.batchSize || 20, o.flushIntervalMs || 3000)));
    path = built;
    for (const [e, fp] of early.splice(0)) built.capture(e, fp);
  });
  setUpSoon();

  for (const p of o.plugins || []) safe(p)(h);
}

/** The path, or the hash's path for `#/…` routers. */
function routeOf(l: Location): string {
  const hash = l.hash;
  return hash[0] === '#' && hash[1] === '/' ? hash.slice(1).split('?')[0] : l.pathname;
}

/**
 * SPA route changes: history.pushState/replaceState, popstate, hashchange; from the setup's
 * first part, not from init. A route change in between is not followed: a user's needs a
 * rendered page to click on, which comes after that part, and a router's own first
 * replaceState, in init's task, is the page's first URL, which the first page view (also in
 * the setup) already reads, as it would read a redirect's.
 */
function follow(h: Hub, listeners: Array<(from: string) => void>): void {
  let here = location.href;
  const moved = safe(() => {
    if (location.href === here) return;
    const from = here;
    here = location.href;
    h.crumb({ category: 'navigation', message: from + ' -> ' + here });
    for (const cb of listeners) safe(cb)(from);
  });
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

// The setup's first part: sampling, filters, caps, beforeSend, the common fields, the session
// (storage is read at the first event: a page's first localStorage access costs milliseconds).
function setup(h: Hub, out: Transport): Path {
  const o = h.o;
  let stored: ReturnType<typeof sessions> | undefined;
  let sessionKept = true;
  const session = () => {
    if (!stored) {
      stored = sessions(o.anonymousVisitorId !== false);
      sessionKept = parseInt(hash(stored.touch().id), 16) / 0xffffffff < (o.sessionSampleRate ?? 1);
    }
    return stored;
  };
  let onPage = 0;
  return {
    session: () => session().touch(),
    leave() {
      if (stored) stored.save();
      out.leave();
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
      // An event captured before the setup brings the breadcrumbs it had then.
      if (e.type === 'error' && !event.breadcrumbs) event.breadcrumbs = crumbs.slice();
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
  };
}

/** `fn` with the hub, set up: a call of the API right after init runs the setup at once. */
function withHub<R>(fn: (h: Hub) => R): R | undefined {
  return safe(() => {
    if (!hub) return;
    if (!path) ready();
    return fn(hub);
  })();
}

export function captureException(
  err: unknown,
  ctx?: { tags?: Record<string, string>; extra?: Record<string, unknown>; mechanism?: string },
): string | undefined {
  return withHub((h) => h.capture({ type: 'error', ...describe(err), mechanism: (ctx && ctx.mechanism) || 'manual', tags: ctx && ctx.tags, extra: ctx && ctx.extra }));
}

export function captureMessage(message: string, level: Level = 'info'): string | undefined {
  return withHub((h) => h.capture({ type: 'message', message: String(message), level }));
}

export function track(name: string, data?: unknown): string | undefined {
  return withHub((h) => h.capture({ type: 'custom', name: String(name), data }));
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
  return withHub(() => sender && sender.flush().catch(() => undefined)) || Promise.resolve();
}
