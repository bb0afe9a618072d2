/**
 * `http(s)://<key>@<host>[/<prefix>]/<project>` → the native endpoint,
 * `<origin>[/<prefix>]/api/<project>/events?key=<key>`; undefined for anything else.
 * The key travels in the query string: a header would cost a CORS preflight.
 */
export function endpoint(dsn: string): string | undefined {
  const m = /^(https?:\/\/)([^:@/]+)(?::[^@/]*)?@([^/?#]+)((?:\/[^/?#]+)*)\/(\d+)\/?$/.exec(dsn);
  return m ? `${m[1]}${m[3]}${m[4]}/api/${m[5]}/events?key=${encodeURIComponent(m[2])}` : undefined;
}
