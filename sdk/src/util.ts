// Small helpers every module uses.

/** 32 random hex characters: the event id, stable across retries. */
export function uid(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  let s = '';
  for (let i = 0; i < 16; i++) s += (bytes[i] + 256).toString(16).slice(1);
  return s;
}

export const now = () => Date.now();

/** Runs `fn` and swallows what it throws: the SDK never throws into the page. */
export function safe<A extends unknown[], R>(fn: (...a: A) => R) {
  return function (this: unknown, ...a: A): R | undefined {
    try {
      return fn.apply(this, a);
    } catch {
      return undefined;
    }
  };
}

/** Whether `s` matches one of the patterns (a string matches as a substring). */
export function matches(s: string | undefined, patterns?: Array<string | RegExp>): boolean {
  return !!s && !!patterns && patterns.some((p) => (typeof p === 'string' ? s.indexOf(p) >= 0 : p.test(s)));
}

/** A short CSS selector for an element: `div#app > button.pay`, at most three levels. */
export function selector(el: Element | null): string {
  const parts: string[] = [];
  for (let i = 0; el && el.nodeType === 1 && i < 3; i++, el = el.parentElement) {
    let p = el.tagName.toLowerCase();
    if (el.id) {
      parts.unshift(p + '#' + el.id);
      break;
    }
    const cls = typeof el.className === 'string' ? el.className.trim().split(/\s+/).slice(0, 2).join('.') : '';
    if (cls) p += '.' + cls;
    parts.unshift(p);
  }
  return parts.join(' > ');
}

/** Query values whose name suggests a secret, replaced: URLs are stored and shown. */
export function scrub(url: string): string {
  return url.replace(/([?&][^=&#]*(?:token|key|secret|pass|auth|sig|code|session)[^=&#]*=)[^&#]*/gi, '$1[Filtered]');
}

/**
 * Safe storage access: private modes, sandboxed iframes and full quotas throw. The storage is
 * opened at the first read or write, never before: a page's first `localStorage` access costs
 * milliseconds of main thread.
 */
export function store(kind: 'localStorage' | 'sessionStorage') {
  let s: Storage | undefined | null = null;
  const open = () => {
    if (s === null) {
      try {
        s = window[kind];
      } catch {
        s = undefined;
      }
    }
    return s;
  };
  return {
    get(key: string): any {
      try {
        const v = open() && s!.getItem(key);
        return v ? JSON.parse(v) : undefined;
      } catch {
        return undefined;
      }
    },
    set(key: string, value: unknown): boolean {
      try {
        if (!open()) return false;
        if (value === undefined) s!.removeItem(key);
        else s!.setItem(key, JSON.stringify(value));
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** A 32-bit FNV-1a hash, as 8 hex characters. */
export function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16);
}
