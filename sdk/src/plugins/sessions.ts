// Session updates: `ok` on every page load and whenever the page is hidden, `exited` when it
// goes away, with the session's duration, pages and errors (the server keeps the latest).
import type { Plugin } from '../types';
import { now } from '../util';

export const sessions: Plugin = (hub) => {
  if (hub.o.sessions === false) return;
  const update = (exit: boolean) => {
    const s = hub.session();
    hub.capture({ type: 'session', status: exit ? 'exited' : 'ok', duration_ms: now() - s.start, pages: s.pages, errors: s.errors });
  };
  // After this turn, so that the page view of this load is counted.
  setTimeout(() => update(false));
  hub.onLeave(update);
};
