// fetch and XMLHttpRequest, wrapped so that the page sees exactly what it saw before (the
// same Response, the same rejection, the same XHR events): failures become `api_error`
// events, every call a breadcrumb. The SDK's own requests are left alone.
import type { Plugin } from '../types';
import { matches, now, safe, scrub } from '../util';

export const api: Plugin = (hub) => {
  const cfg = hub.o.captureApi;
  if (cfg === false) return;
  const [lo, hi] = (cfg && cfg.failedStatus) || [500, 599];
  // `page`: where the call was made; the page may have moved on by the time it ends.
  const done = safe((kind: 'fetch' | 'xhr', method: string, raw: string, start: number, page: string, status?: number) => {
    const target = scrub(new URL(raw, page).href);
    const duration_ms = now() - start;
    hub.crumb({ category: kind, message: `${method} ${target}`, data: { status, duration_ms } });
    if (matches(target, cfg && cfg.ignoreUrls) || (status && (status < lo || status > hi))) return;
    hub.capture({ type: 'api_error', target, method, status, duration_ms, url: page });
  });

  const f = window.fetch;
  if (f) {
    window.fetch = function (input: RequestInfo | URL, init?: RequestInit) {
      let method = 'GET';
      let url = '';
      try {
        url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        method = ((init && init.method) || (input as Request).method || 'GET').toUpperCase();
      } catch {
        // Whatever fetch itself makes of it.
      }
      const res = f.apply(this, arguments as any);
      if (!url || hub.own(url)) return res;
      const start = now();
      const page = location.href;
      // The caller gets this promise: the Response itself, or the same error rethrown, so an
      // unhandled failure is still unhandled.
      return res.then(
        (r: Response) => {
          done('fetch', method, url, start, page, r.status);
          return r;
        },
        (err: unknown) => {
          if (!(err && (err as Error).name === 'AbortError')) done('fetch', method, url, start, page);
          throw err;
        },
      );
    };
  }

  const X = window.XMLHttpRequest && XMLHttpRequest.prototype;
  if (!X) return;
  const calls = new WeakMap<XMLHttpRequest, [string, string]>();
  const open = X.open;
  const send = X.send;
  X.open = function (this: XMLHttpRequest, method: string, url: string | URL) {
    safe(() => calls.set(this, [String(method).toUpperCase(), String(url)]))();
    return open.apply(this, arguments as any);
  };
  X.send = function (this: XMLHttpRequest) {
    const call = calls.get(this);
    if (call && !hub.own(call[1])) {
      const start = now();
      const page = location.href;
      let aborted = false;
      this.addEventListener('abort', () => (aborted = true));
      this.addEventListener('loadend', () => aborted || done('xhr', call[0], call[1], start, page, this.status || undefined));
    }
    return send.apply(this, arguments as any);
  };
};
