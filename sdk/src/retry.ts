// When to send again: backoff with jitter, `Retry-After`, `X-Sentry-Rate-Limits`.

const BASE_MS = 1000;
const MAX_MS = 60_000;

/** The wait before retry number `attempt` (0-based): exponential, capped, "full jitter". */
export function backoff(attempt: number, random: number = Math.random()): number {
  return Math.round(Math.min(MAX_MS, BASE_MS * 2 ** attempt) * (0.5 + random / 2));
}

/** `Retry-After` (seconds or an HTTP date) in ms from `now`; undefined when absent or invalid. */
export function retryAfter(header: string | null | undefined, now: number): number | undefined {
  if (!header) return undefined;
  if (/^\s*\d+\s*$/.test(header)) return +header * 1000;
  const at = Date.parse(header);
  return isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * `X-Sentry-Rate-Limits: <secs>:<categories>:<scope>[, …]` → the longest wait in ms that
 * applies to this SDK's events: categories empty (all), `default` or `error`.
 */
export function sentryLimits(header: string | null | undefined): number | undefined {
  let ms: number | undefined;
  for (const limit of (header || '').split(',')) {
    const [secs, cats] = limit.trim().split(':');
    const s = parseInt(secs, 10);
    if (isNaN(s) || !(cats === undefined || cats === '' || /(^|;)(default|error)(;|$)/.test(cats))) continue;
    ms = Math.max(ms || 0, s * 1000);
  }
  return ms;
}
