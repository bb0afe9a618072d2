// Session updates: `ok` on every page load and whenever the page is hidden, `exited` when it
// goes away, with the session's duration, pages and errors (the server keeps the latest).
import type { Plugin } from '../types';
import { later } from '../setup';
import { now } from '../util';

export const sessions: Plugin = (hub) => {
  if (hub.o.sessions === false) return;
  const update = (exit: boolean) => {
    const s = hub.session();
    hub.capture({ type: 'session', status: exit ? 'exited' : 'ok', duration_ms: now() - s.start, pages: s.pages, errors: s.errors });
  };
  // In the setup, after the page view of this load (plugins' parts run in order): it counts it.
  later(() => update(false));
  hub.onLeave(update);
};
