/**
 * `http(s)://<key>@<host>[/<prefix>]/<project>` → the native endpoint,
 * `<origin>[/<prefix>]/api/<project>/events?key=<key>`; undefined for anything else.
 * The key travels in the query string: a header would cost a CORS preflight.
 *
 * Read by hand, not by a regular expression: `init` reads the DSN, and a page's first run of a
 * regular expression compiles it, which was the largest part of a cold `init` (sdk/README.md,
 * "Cost on the main thread"). test/dsn.test.ts checks it against the expression it replaces.
 */
export function endpoint(dsn: string): string | undefined {
  const s = String(dsn);
  const scheme = s.indexOf('https://') === 0 ? 8 : s.indexOf('http://') === 0 ? 7 : 0;
  // The key (and a Sentry DSN's secret after `:`, never sent), up to the first `@`.
  const at = s.indexOf('@', scheme);
  const user = s.slice(scheme, at);
  const colon = user.indexOf(':');
  const key = colon < 0 ? user : user.slice(0, colon);
  if (!scheme || at < 0 || !key || user.indexOf('/') >= 0) return;
  // The host, then the path: a prefix of non-empty segments, the project's number last, and
  // maybe a slash; no query, no fragment.
  const rest = s.slice(at + 1);
  const slash = rest.indexOf('/');
  if (slash < 1 || rest.indexOf('?') >= 0 || rest.indexOf('#') >= 0) return;
  let path = rest.slice(slash);
  if (path.length > 1 && path[path.length - 1] === '/') path = path.slice(0, -1);
  const last = path.lastIndexOf('/');
  const project = path.slice(last + 1);
  const prefix = path.slice(0, last);
  if (!isNumber(project) || prefix.split('/').slice(1).indexOf('') >= 0) return;
  return `${s.slice(0, scheme)}${rest.slice(0, slash)}${prefix}/api/${project}/events?key=${encodeURIComponent(key)}`;
}

function isNumber(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s[i] < '0' || s[i] > '9') return false;
  return s.length > 0;
}
