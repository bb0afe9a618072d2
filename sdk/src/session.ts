// The session (new after 30 minutes without activity) and the anonymous visitor, kept in
// localStorage (sessionStorage, then memory, when it is unavailable): no cookie.
import { now, store, uid } from './util';

const IDLE_MS = 30 * 60_000;
const SESSION_KEY = '__fm_s';
const VISITOR_KEY = '__fm_v';
/** Activity is written back at most this often: a flood of events is not a flood of writes. */
const WRITE_MS = 5000;

export interface Session {
  id: string;
  start: number;
  last: number;
  pages: number;
  errors: number;
  /** Events per fingerprint in this session, for the cap. */
  fp: Record<string, number>;
}

export function sessions(anonymousVisitorId: boolean) {
  const local = store('localStorage');
  const tab = store('sessionStorage');
  let s: Session = local.get(SESSION_KEY) || tab.get(SESSION_KEY);
  let written = 0;
  let fresh = false;
  const save = () => {
    written = now();
    // Bounded: a long session of many distinct errors forgets their counts, not the page.
    if (Object.keys(s.fp).length > 200) s.fp = {};
    local.set(SESSION_KEY, s) || tab.set(SESSION_KEY, s);
  };
  const touch = (): Session => {
    const t = now();
    // Whatever else is stored there (another version, another script) starts a new session.
    if (!s || typeof s.id !== 'string' || !s.fp || typeof s.fp !== 'object' || !(t - s.last <= IDLE_MS)) {
      s = { id: uid(), start: t, last: t, pages: 0, errors: 0, fp: {} };
      fresh = true;
      save();
    }
    s.last = t;
    if (t - written > WRITE_MS) save();
    return s;
  };
  let visitor: string | undefined;
  if (anonymousVisitorId) {
    visitor = local.get(VISITOR_KEY);
    if (typeof visitor !== 'string') local.set(VISITOR_KEY, (visitor = uid()));
  }
  touch();
  return {
    touch,
    save,
    visitor,
    /** Whether the last touch started a new session (and clears it). */
    started() {
      const f = fresh;
      fresh = false;
      return f;
    },
  };
}
