// src/dsn.ts
function endpoint(dsn) {
  const s = String(dsn);
  const scheme = s.indexOf("https://") === 0 ? 8 : s.indexOf("http://") === 0 ? 7 : 0;
  const at = s.indexOf("@", scheme);
  const user2 = s.slice(scheme, at);
  const colon = user2.indexOf(":");
  const key = colon < 0 ? user2 : user2.slice(0, colon);
  if (!scheme || at < 0 || !key || user2.indexOf("/") >= 0) return;
  const rest = s.slice(at + 1);
  const slash = rest.indexOf("/");
  if (slash < 1 || rest.indexOf("?") >= 0 || rest.indexOf("#") >= 0) return;
  let path2 = rest.slice(slash);
  if (path2.length > 1 && path2[path2.length - 1] === "/") path2 = path2.slice(0, -1);
  const last = path2.lastIndexOf("/");
  const project = path2.slice(last + 1);
  const prefix = path2.slice(0, last);
  if (!isNumber(project) || prefix.split("/").slice(1).indexOf("") >= 0) return;
  return `${s.slice(0, scheme)}${rest.slice(0, slash)}${prefix}/api/${project}/events?key=${encodeURIComponent(key)}`;
}
function isNumber(s) {
  for (let i = 0; i < s.length; i++) if (s[i] < "0" || s[i] > "9") return false;
  return s.length > 0;
}

// src/stack.ts
var CHROME = /^\s*at (?:(?:async )?(.+?) \()?((?:[a-z-]+:|\/|<anonymous>).*?)(?::(\d+))?(?::(\d+))?\)?\s*$/i;
var GECKO = /^\s*([^@\s]*)@(.+?)(?::(\d+))?(?::(\d+))?\s*$/;
function parseStack(stack) {
  const frames = [];
  for (const line of (stack || "").split("\n")) {
    const m = CHROME.exec(line) || GECKO.exec(line);
    if (!m || !m[2]) continue;
    frames.push({
      fn: m[1] || void 0,
      file: m[2],
      line: m[3] ? +m[3] : void 0,
      col: m[4] ? +m[4] : void 0
    });
  }
  return frames;
}
function describe(thrown) {
  if (thrown instanceof Error || thrown && typeof thrown.message === "string") {
    const e = thrown;
    return { message: (e.name || "Error") + ": " + e.message, stack: typeof e.stack === "string" ? e.stack : void 0 };
  }
  let text;
  try {
    text = typeof thrown === "string" ? thrown : JSON.stringify(thrown);
  } catch {
    text = String(thrown);
  }
  return { message: "Non-Error thrown: " + String(text).slice(0, 500) };
}

// src/util.ts
function uid() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  let s = "";
  for (let i = 0; i < 16; i++) s += (bytes[i] + 256).toString(16).slice(1);
  return s;
}
var now = () => Date.now();
function safe(fn) {
  return function(...a) {
    try {
      return fn.apply(this, a);
    } catch {
      return void 0;
    }
  };
}
function matches(s, patterns) {
  return !!s && !!patterns && patterns.some((p) => typeof p === "string" ? s.indexOf(p) >= 0 : p.test(s));
}
function selector(el) {
  const parts = [];
  for (let i = 0; el && el.nodeType === 1 && i < 3; i++, el = el.parentElement) {
    let p = el.tagName.toLowerCase();
    if (el.id) {
      parts.unshift(p + "#" + el.id);
      break;
    }
    const cls = typeof el.className === "string" ? el.className.trim().split(/\s+/).slice(0, 2).join(".") : "";
    if (cls) p += "." + cls;
    parts.unshift(p);
  }
  return parts.join(" > ");
}
function scrub(url) {
  return url.replace(/([?&][^=&#]*(?:token|key|secret|pass|auth|sig|code|session)[^=&#]*=)[^&#]*/gi, "$1[Filtered]");
}
function store(kind) {
  let s = null;
  const open = () => {
    if (s === null) {
      try {
        s = window[kind];
      } catch {
        s = void 0;
      }
    }
    return s;
  };
  return {
    get(key) {
      try {
        const v = open() && s.getItem(key);
        return v ? JSON.parse(v) : void 0;
      } catch {
        return void 0;
      }
    },
    set(key, value) {
      try {
        if (!open()) return false;
        if (value === void 0) s.removeItem(key);
        else s.setItem(key, JSON.stringify(value));
        return true;
      } catch {
        return false;
      }
    }
  };
}
function hash(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0).toString(16);
}

// src/fingerprint.ts
function fingerprint(e) {
  const top = parseStack(e.stack)[0];
  const where = top ? `${top.file}:${top.line}:${top.col}` : String(e.target || "");
  return hash(`${e.type}|${String(e.message || e.name || "").replace(/\d+/g, "0")}|${where}`);
}

// src/session.ts
var IDLE_MS = 30 * 6e4;
var SESSION_KEY = "__fm_s";
var VISITOR_KEY = "__fm_v";
var WRITE_MS = 5e3;
function sessions(anonymousVisitorId) {
  const local = store("localStorage");
  const tab = store("sessionStorage");
  let s = local.get(SESSION_KEY) || tab.get(SESSION_KEY);
  let written = 0;
  let fresh = false;
  const save = () => {
    written = now();
    if (Object.keys(s.fp).length > 200) s.fp = {};
    local.set(SESSION_KEY, s) || tab.set(SESSION_KEY, s);
  };
  const touch = () => {
    const t = now();
    if (!s || typeof s.id !== "string" || !s.fp || typeof s.fp !== "object" || !(t - s.last <= IDLE_MS)) {
      s = { id: uid(), start: t, last: t, pages: 0, errors: 0, fp: {} };
      fresh = true;
      save();
    }
    s.last = t;
    if (t - written > WRITE_MS) save();
    return s;
  };
  let visitor;
  if (anonymousVisitorId) {
    visitor = local.get(VISITOR_KEY);
    if (typeof visitor !== "string") local.set(VISITOR_KEY, visitor = uid());
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
    }
  };
}

// src/setup.ts
var waiting = [];
var done = false;
function later(fn) {
  if (done) safe(fn)();
  else waiting.push(fn);
}
function setUpSoon() {
  setTimeout(function step() {
    const fn = waiting.shift();
    if (fn) safe(fn)();
    if (waiting.length) setTimeout(step);
    else done = true;
  });
}
function ready() {
  for (let fn = waiting.shift(); fn; fn = waiting.shift()) safe(fn)();
  done = true;
}

// src/batch.ts
var MAX_EVENTS = 100;
function bodies(events, max) {
  const out = [];
  let parts = [];
  let group = [];
  let size = 2;
  const close = () => {
    if (group.length) out.push({ body: "[" + parts.join(",") + "]", events: group });
    parts = [];
    group = [];
    size = 2;
  };
  for (const e of events) {
    let json;
    try {
      json = JSON.stringify(e);
    } catch {
      continue;
    }
    const bytes = utf8Bytes(json);
    if (group.length && (size + bytes + 1 > max || group.length >= MAX_EVENTS)) close();
    parts.push(json);
    group.push(e);
    size += bytes + 1;
  }
  close();
  return out;
}
function utf8Bytes(s) {
  return s.length + (s.match(/[^\x00-\x7f]/g) || []).length * 2;
}

// src/retry.ts
var BASE_MS = 1e3;
var MAX_MS = 6e4;
function backoff(attempt, random = Math.random()) {
  return Math.round(Math.min(MAX_MS, BASE_MS * 2 ** attempt) * (0.5 + random / 2));
}
function retryAfter(header, now2) {
  if (!header) return void 0;
  if (/^\s*\d+\s*$/.test(header)) return +header * 1e3;
  const at = Date.parse(header);
  return isNaN(at) ? void 0 : Math.max(0, at - now2);
}
function sentryLimits(header) {
  let ms;
  for (const limit of (header || "").split(",")) {
    const [secs, cats] = limit.trim().split(":");
    const s = parseInt(secs, 10);
    if (isNaN(s) || !(cats === void 0 || cats === "" || /(^|;)(default|error)(;|$)/.test(cats))) continue;
    ms = Math.max(ms || 0, s * 1e3);
  }
  return ms;
}

// src/transport.ts
var BODY_MAX = 6e4;
var MEMORY_MAX = 1e3;
var ATTEMPTS = 6;
var SAVED_KEY = "__fm_q";
var SAVED_MAX = 50;
var SAVED_BYTES = 1e5;
var PAUSE_KEY = "__fm_p";
var PAUSE_MAX = 864e5;
function transport(url, post, batchSize, intervalMs) {
  const local = store("localStorage");
  const tries = /* @__PURE__ */ new Map();
  let queue = [];
  let timer;
  let due = 0;
  let pausedUntil = 0;
  let pauseRead = false;
  let keepaliveBytes = 0;
  const paused = () => {
    if (!pauseRead) {
      pauseRead = true;
      const at = local.get(PAUSE_KEY);
      if (typeof at === "number") pausedUntil = Math.max(pausedUntil, Math.min(at, now() + PAUSE_MAX));
    }
    return now() < pausedUntil;
  };
  const schedule = (ms) => {
    paused();
    const at = now() + Math.max(ms, pausedUntil - now());
    if (timer && due <= at) return;
    clearTimeout(timer);
    due = at;
    timer = setTimeout(
      safe(() => {
        timer = void 0;
        flush2();
      }),
      at - now()
    );
  };
  const add = (e) => {
    queue.push(e);
    if (queue.length > MEMORY_MAX) tries.delete(queue.shift());
    if (queue.length >= batchSize && !paused()) flush2();
    else schedule(intervalMs);
  };
  const requeue = (events, wait) => {
    const kept = events.filter((e) => {
      const n = (tries.get(e) || 0) + 1;
      tries.set(e, n);
      if (n >= ATTEMPTS) tries.delete(e);
      return n < ATTEMPTS;
    });
    queue = kept.concat(queue);
    if (kept.length) schedule(wait);
  };
  const saved = () => {
    const list = local.get(SAVED_KEY);
    return Array.isArray(list) ? list.filter((e) => e && typeof e.type === "string") : [];
  };
  const save = (events) => {
    const kept = saved().concat(events).slice(-SAVED_MAX);
    while (kept.length && JSON.stringify(kept).length > SAVED_BYTES) kept.shift();
    local.set(SAVED_KEY, kept);
  };
  const send = (body, events) => {
    const size = utf8Bytes(body);
    const keepalive = !tries.get(events[0]) && keepaliveBytes + size <= BODY_MAX;
    if (keepalive) keepaliveBytes += size;
    const done2 = () => {
      if (keepalive) keepaliveBytes -= size;
    };
    return post(url, { method: "POST", body, keepalive, credentials: "omit" }).then(
      (res) => {
        done2();
        const s = res.status;
        const after = retryAfter(res.headers.get("retry-after"), now());
        if (s === 429) {
          pausedUntil = now() + Math.min(PAUSE_MAX, sentryLimits(res.headers.get("x-sentry-rate-limits")) || after || 6e4);
          local.set(PAUSE_KEY, pausedUntil);
          queue = events.concat(queue);
          schedule(0);
        } else if (s === 408 || s >= 500) {
          requeue(events, after || backoff(tries.get(events[0]) || 0));
        } else if (s < 300) {
          drain();
        }
      },
      () => {
        done2();
        if (navigator.onLine === false) save(events);
        else requeue(events, backoff(tries.get(events[0]) || 0));
      }
    );
  };
  const flush2 = () => {
    if (!post || !queue.length || paused()) {
      if (queue.length) schedule(0);
      return Promise.resolve();
    }
    clearTimeout(timer);
    timer = void 0;
    const events = queue;
    queue = [];
    if (navigator.onLine === false) return Promise.resolve(save(events));
    return Promise.all(bodies(events, BODY_MAX).map((b) => send(b.body, b.events))).then(() => void 0);
  };
  const leave = () => {
    const events = queue;
    queue = [];
    if (!events.length) return;
    if (navigator.onLine === false || paused() || !navigator.sendBeacon) return save(events);
    for (const b of bodies(events, BODY_MAX)) {
      if (!navigator.sendBeacon(url, b.body)) save(b.events);
    }
  };
  const drain = safe(() => {
    const list = saved();
    local.set(SAVED_KEY, void 0);
    queue = queue.concat(list);
    flush2();
  });
  drain();
  addEventListener("online", drain);
  addEventListener("storage", (e) => {
    if (e.key === SAVED_KEY && e.newValue && navigator.onLine !== false) drain();
  });
  return { add, flush: flush2, leave };
}

// src/client.ts
var ERRORS = ["error", "resource_error", "api_error", "white_screen", "message"];
var UNCAPPED = ["pageview", "session", "vital"];
var CRUMBS = 20;
var EARLY_MAX = 100;
var hub;
var path;
var sender;
var user;
var tags = {};
var crumbs = [];
function init(o) {
  try {
    start(o);
  } catch {
  }
}
function start(o) {
  if (hub || typeof window === "undefined") return;
  const url = endpoint(o.dsn || "");
  if (!url) return;
  const pageFetch = window.fetch;
  const routeListeners = [];
  const leaveListeners = [];
  const early = [];
  const h = hub = {
    o,
    own: (u) => u.indexOf(url.split("?")[0]) === 0,
    route: () => (o.route || routeOf)(location),
    onRoute: (cb) => routeListeners.push(cb),
    onLeave: (cb) => leaveListeners.push(cb),
    session() {
      if (!path) ready();
      return path.session();
    },
    crumb(b) {
      crumbs.push({ timestamp: now(), ...b });
      if (crumbs.length > CRUMBS) crumbs.shift();
    },
    capture(e, fp) {
      if (path) return path.capture(e, fp);
      if (early.length >= EARLY_MAX) return;
      const then = { timestamp: now(), url: location.href, route: h.route(), ...e };
      if (e.type === "error") then.breadcrumbs = crumbs.slice();
      early.push([then, fp]);
    }
  };
  const leave = safe((exit) => {
    ready();
    for (const cb of leaveListeners) safe(cb)(exit);
    path.leave();
  });
  addEventListener("pagehide", () => leave(true));
  later(() => {
    addEventListener("visibilitychange", () => document.visibilityState === "hidden" && leave(false));
    if (o.spa !== false) follow(h, routeListeners);
    const built = setup(h, sender = transport(url, pageFetch && pageFetch.bind(window), o.batchSize || 20, o.flushIntervalMs || 3e3));
    path = built;
    for (const [e, fp] of early.splice(0)) built.capture(e, fp);
  });
  setUpSoon();
  for (const p of o.plugins || []) safe(p)(h);
}
function routeOf(l) {
  const hash2 = l.hash;
  return hash2[0] === "#" && hash2[1] === "/" ? hash2.slice(1).split("?")[0] : l.pathname;
}
function follow(h, listeners) {
  let here = location.href;
  const moved = safe(() => {
    if (location.href === here) return;
    const from = here;
    here = location.href;
    h.crumb({ category: "navigation", message: from + " -> " + here });
    for (const cb of listeners) safe(cb)(from);
  });
  for (const name of ["pushState", "replaceState"]) {
    const orig = history[name];
    history[name] = function() {
      const r = orig.apply(this, arguments);
      moved();
      return r;
    };
  }
  addEventListener("popstate", moved);
  addEventListener("hashchange", moved);
}
function setup(h, out) {
  const o = h.o;
  let stored;
  let sessionKept = true;
  const session = () => {
    var _a;
    if (!stored) {
      stored = sessions(o.anonymousVisitorId !== false);
      sessionKept = parseInt(hash(stored.touch().id), 16) / 4294967295 < ((_a = o.sessionSampleRate) != null ? _a : 1);
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
      var _a;
      const ids = session();
      const isError = ERRORS.indexOf(e.type) >= 0;
      if (isError ? Math.random() >= ((_a = o.sampleRate) != null ? _a : 1) : !sessionKept) return;
      if (isError && matches(String(e.message), o.ignoreErrors)) return;
      const top = parseStack(e.stack)[0];
      if (matches(String(e.target || top && top.file || ""), o.denyUrls)) return;
      if (UNCAPPED.indexOf(e.type) < 0 && onPage >= (o.maxEventsPerPage || 100)) return;
      const s = ids.touch();
      if (isError) {
        const f = fp || fingerprint(e);
        if ((s.fp[f] = (s.fp[f] || 0) + 1) > (o.maxEventsPerFingerprint || 5)) return;
      }
      const event = {
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
        tags: { ...tags, ...e.tags }
      };
      if (e.type === "error" && !event.breadcrumbs) event.breadcrumbs = crumbs.slice();
      let kept = event;
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
      if (e.type === "pageview") s.pages++;
      out.add(kept);
      return kept.event_id;
    }
  };
}
function withHub(fn) {
  return safe(() => {
    if (!hub) return;
    if (!path) ready();
    return fn(hub);
  })();
}
function captureException(err, ctx) {
  return withHub((h) => h.capture({ type: "error", ...describe(err), mechanism: ctx && ctx.mechanism || "manual", tags: ctx && ctx.tags, extra: ctx && ctx.extra }));
}
function captureMessage(message, level = "info") {
  return withHub((h) => h.capture({ type: "message", message: String(message), level }));
}
function track(name, data) {
  return withHub((h) => h.capture({ type: "custom", name: String(name), data }));
}
function setUser(u) {
  user = u && { id: u.id } || void 0;
}
function setTag(key, value) {
  tags[String(key)] = String(value);
}
function addBreadcrumb(b) {
  safe(() => hub && hub.crumb({ category: "custom", ...b }))();
}
function flush() {
  return withHub(() => sender && sender.flush().catch(() => void 0)) || Promise.resolve();
}

// src/plugins/errors.ts
var errors = (hub2) => {
  addEventListener(
    "error",
    safe((ev) => {
      if (!(ev instanceof ErrorEvent)) return;
      const d = ev.error != null ? describe(ev.error) : { message: ev.message || "Script error." };
      if (!d.stack && ev.filename) d.stack = `${d.message}
    at ${ev.filename}:${ev.lineno}:${ev.colno}`;
      hub2.capture({ type: "error", ...d, mechanism: "onerror" });
    })
  );
  addEventListener(
    "unhandledrejection",
    safe((ev) => {
      hub2.capture({ type: "error", ...describe(ev.reason), mechanism: "onunhandledrejection" });
    })
  );
  const c = console;
  const orig = c.error;
  c.error = function() {
    safe(() => hub2.crumb({ category: "console", level: "error", message: [].map.call(arguments, String).join(" ").slice(0, 200) }))();
    return orig.apply(this, arguments);
  };
};

// src/plugins/resources.ts
var resources = (hub2) => {
  const seen = {};
  addEventListener(
    "error",
    safe((ev) => {
      const el = ev.target;
      if (!el || !el.tagName || ev instanceof ErrorEvent) return;
      const tag = el.tagName.toLowerCase();
      const target = el.currentSrc || el.src || el.href;
      if (!target || typeof target !== "string" || target === location.href || seen[tag + target]) return;
      seen[tag + target] = 1;
      hub2.capture({ type: "resource_error", target: scrub(target), tag_name: tag, selector: selector(el) });
    }),
    true
  );
};

// src/plugins/api.ts
var api = (hub2) => {
  const cfg = hub2.o.captureApi;
  if (cfg === false) return;
  const [lo, hi] = cfg && cfg.failedStatus || [500, 599];
  const done2 = safe((kind, method, raw, start2, page, status) => {
    const target = scrub(new URL(raw, page).href);
    const duration_ms = now() - start2;
    hub2.crumb({ category: kind, message: `${method} ${target}`, data: { status, duration_ms } });
    if (matches(target, cfg && cfg.ignoreUrls) || status && (status < lo || status > hi)) return;
    hub2.capture({ type: "api_error", target, method, status, duration_ms, url: page });
  });
  const f = window.fetch;
  if (f) {
    window.fetch = function(input, init2) {
      let method = "GET";
      let url = "";
      try {
        url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
        method = (init2 && init2.method || input.method || "GET").toUpperCase();
      } catch {
      }
      const res = f.apply(this, arguments);
      if (!url || hub2.own(url)) return res;
      const start2 = now();
      const page = location.href;
      return res.then(
        (r) => {
          done2("fetch", method, url, start2, page, r.status);
          return r;
        },
        (err) => {
          if (!(err && err.name === "AbortError")) done2("fetch", method, url, start2, page);
          throw err;
        }
      );
    };
  }
  const X = window.XMLHttpRequest && XMLHttpRequest.prototype;
  if (!X) return;
  const calls = /* @__PURE__ */ new WeakMap();
  const open = X.open;
  const send = X.send;
  X.open = function(method, url) {
    safe(() => calls.set(this, [String(method).toUpperCase(), String(url)]))();
    return open.apply(this, arguments);
  };
  X.send = function() {
    const call = calls.get(this);
    if (call && !hub2.own(call[1])) {
      const start2 = now();
      const page = location.href;
      let aborted = false;
      this.addEventListener("abort", () => aborted = true);
      this.addEventListener("loadend", () => aborted || done2("xhr", call[0], call[1], start2, page, this.status || void 0));
    }
    return send.apply(this, arguments);
  };
};

// src/plugins/pageviews.ts
var pageviews = (hub2) => {
  if (hub2.o.pageviews === false) return;
  later(() => {
    hub2.capture({ type: "pageview", referrer: document.referrer, title: document.title });
    hub2.onRoute((from) => {
      const url = location.href;
      const route = hub2.route();
      setTimeout(safe(() => hub2.capture({ type: "pageview", referrer: from, title: document.title, url, route })));
    });
  });
};

// src/plugins/sessions.ts
var sessions2 = (hub2) => {
  if (hub2.o.sessions === false) return;
  const update = (exit) => {
    const s = hub2.session();
    hub2.capture({ type: "session", status: exit ? "exited" : "ok", duration_ms: now() - s.start, pages: s.pages, errors: s.errors });
  };
  later(() => update(false));
  hub2.onLeave(update);
};

// src/plugins/clicks.ts
var CONTROL = "a,button,[role=button],[role=link],[role=tab],[role=menuitem],summary,label";
var clicks = (hub2) => later(() => listen(hub2));
function listen(hub2) {
  document.addEventListener(
    "click",
    safe((ev) => {
      const target = ev.target;
      if (!target || target.nodeType !== 1) return;
      const typed = /^(input|textarea|select)$/i.test(target.tagName) || target.isContentEditable;
      const control = typed ? null : target.closest(CONTROL);
      const el = control || target;
      const sel = selector(el);
      const text = control ? (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 60) || void 0 : void 0;
      hub2.crumb({ category: "click", message: sel, data: text ? { text } : void 0 });
      if (hub2.o.clicks) hub2.capture({ type: "click", selector: sel, text });
    }),
    true
  );
}

// src/plugins/whitescreen.ts
var EMPTY_RATIO = 0.9;
var whiteScreen = (hub2) => {
  const cfg = hub2.o.whiteScreen;
  if (cfg !== false) later(() => watch(hub2, cfg));
};
function watch(hub2, cfg) {
  const roots = ["html", "body"].concat(cfg && cfg.roots || ["#app", "#root"]);
  const checks = cfg && cfg.retries || 3;
  const every = cfg && cfg.intervalMs || 1e3;
  let run = 0;
  const emptyRatio = () => {
    let empty = 0;
    const w = innerWidth;
    const h = innerHeight;
    for (let i = 1; i < 10; i++) {
      for (const [x, y] of [[w * i / 10, h / 2], [w / 2, h * i / 10]]) {
        const top = document.elementsFromPoint(x, y)[0];
        if (!top || roots.some((r) => top.matches(r))) empty++;
      }
    }
    return empty / 18;
  };
  const check = safe((id, left) => {
    if (id !== run) return;
    const ratio = emptyRatio();
    if (ratio < EMPTY_RATIO) return;
    if (left > 1) setTimeout(() => check(id, left - 1), every);
    else hub2.capture({ type: "white_screen", empty_ratio: ratio, points: 18 });
  });
  const start2 = () => {
    const id = ++run;
    setTimeout(() => check(id, checks), cfg && cfg.delayMs || 1e3);
  };
  if (document.readyState === "complete") start2();
  else addEventListener("load", start2);
  hub2.onRoute(start2);
}

// src/plugins/vitals.ts
import { onCLS, onFCP, onINP, onLCP, onTTFB } from "web-vitals/attribution";
var vitals = (hub2) => {
  if (hub2.o.vitals !== false) later(() => observe(hub2));
};
function observe(hub2) {
  const url = location.href;
  const route = hub2.route();
  const report = safe((m) => {
    const a = m.attribution || {};
    const attribution = m.name === "LCP" ? { target: a.target, url: a.url, resource_load_duration: a.resourceLoadDuration, element_render_delay: a.elementRenderDelay } : m.name === "INP" ? { target: a.interactionTarget, input_delay: a.inputDelay, processing_duration: a.processingDuration, presentation_delay: a.presentationDelay } : m.name === "CLS" ? { target: a.largestShiftTarget, largest_shift_value: a.largestShiftValue } : { time_to_first_byte: a.timeToFirstByte, waiting_duration: a.waitingDuration };
    const soft = m.navigationURL && m.navigationType === "soft-navigation";
    hub2.capture({
      type: "vital",
      name: m.name,
      value: m.value,
      rating: m.rating,
      navigation_type: m.navigationType,
      attribution,
      url: soft ? m.navigationURL : url,
      route: soft ? hub2.route() : route
    });
  });
  for (const on of [onCLS, onFCP, onINP, onLCP, onTTFB]) on(report, { reportSoftNavs: true });
}
export {
  addBreadcrumb,
  api,
  captureException,
  captureMessage,
  clicks,
  errors,
  flush,
  init,
  pageviews,
  resources,
  sessions2 as sessions,
  setTag,
  setUser,
  track,
  vitals,
  whiteScreen
};
