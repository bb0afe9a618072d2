// The test page of frontmon's own SDK (own-sdk.mjs serves it). `window.PAGE` holds the
// driver's settings; each scenario is a function that resolves with what it saw.
'use strict';

const PAGE = window.PAGE;

// What the SDK decided to send, in order (its beforeSend), for scenarios that wait on it.
window.SENT = [];
const sentListeners = [];
function whenSent(type) {
  return new Promise(function (resolve) {
    if (window.SENT.indexOf(type) >= 0) return resolve();
    sentListeners.push(function (sent) {
      if (sent === type) resolve();
    });
  });
}

// What a careless page may do: calls before init, an init without options. None may throw.
function misuse() {
  try {
    window.frontmon.captureException(new Error('before init'));
    window.frontmon.setTag(undefined, undefined);
    window.frontmon.init(null);
    window.frontmon.init({ dsn: 'not a DSN' });
    return 'ok';
  } catch (error) {
    return String(error);
  }
}

// cost, without the SDK: the same block measured the same way around functions that do
// nothing, so that what measuring itself costs is known.
const EMPTY_API = { init: function () {}, setUser: function () {}, setTag: function () {} };

function initSdk() {
  const frontmon = window.frontmon || (PAGE.scenario === 'cost' ? EMPTY_API : null);
  if (!frontmon) return false;
  if (PAGE.scenario === 'noise') window.MISUSE = misuse();
  const started = performance.now();
  const options = {
    dsn: PAGE.dsn,
    release: 'shop@2.0.0',
    environment: 'test',
    clicks: true,
    // The scenarios flush themselves: no timer in the way.
    flushIntervalMs: 60000,
    whiteScreen: PAGE.whiteScreen,
    beforeSend: function (event) {
      if (PAGE.scenario === 'noise') {
        if (/drop me/.test(event.message)) return null;
        if (/edit me/.test(event.message)) event.tags.edited = 'yes';
      }
      window.SENT.push(event.type);
      sentListeners.forEach(function (listener) {
        listener(event.type);
      });
      return event;
    },
  };
  if (PAGE.scenario === 'noise') {
    options.ignoreErrors = ['ResizeObserver loop', /^Error: ignored by pattern/];
    options.denyUrls = [/^chrome-extension:/];
    options.maxEventsPerPage = 8;
    options.sessionSampleRate = 0;
  }
  frontmon.init(options);
  frontmon.setUser({ id: 'user-7' });
  frontmon.setTag('checkout', 'v3');
  window.INIT_MS = performance.now() - started;
  return frontmon !== EMPTY_API;
}
const sdk = initSdk();

// early: in init's own task, before the SDK's setup task has run, an error thrown (by a script
// run synchronously) and an API call that fails; both must be stored.
if (PAGE.scenario === 'early' && sdk) {
  window.EARLY_FETCH = fetch('/status/503?right-after-init').then(function (response) {
    return response.status;
  });
  const thrower = document.createElement('script');
  thrower.textContent = "throw new Error('thrown right after init');";
  document.head.appendChild(thrower);
}

// The longest task of the page so far, for the SDK's cost.
let longestTask = 0;
try {
  new PerformanceObserver(function (list) {
    list.getEntries().forEach(function (entry) {
      longestTask = Math.max(longestTask, entry.duration);
    });
  }).observe({ type: 'longtask', buffered: true });
} catch (error) {
  // No long task API: 0.
}

// A real click with a slow handler: an interaction for INP, a click breadcrumb.
const payButton = document.getElementById('pay');
if (payButton) payButton.addEventListener('click', function onPay() {
  const until = performance.now() + 150;
  while (performance.now() < until) {
    // Busy: the interaction must last for INP to count it.
  }
  document.getElementById('status').textContent = 'Paid.';
});

function once(target, type, filter) {
  return new Promise(function (resolve) {
    target.addEventListener(type, function listener(ev) {
      if (filter && !filter(ev)) return;
      target.removeEventListener(type, listener);
      // After every other listener of this event, the SDK's included.
      setTimeout(function () {
        resolve(ev);
      });
    });
  });
}

function renderCart(cart) {
  return cart.items.length;
}

function chargeCard() {
  return Promise.reject(new Error('payment failed 402'));
}

function xhr(method, url, options) {
  return new Promise(function (resolve) {
    const req = new XMLHttpRequest();
    const events = [];
    const record = function (ev) {
      events.push(ev.type === 'readystatechange' ? 'readystatechange:' + req.readyState : ev.type);
    };
    ['readystatechange', 'load', 'error', 'abort', 'timeout'].forEach(function (type) {
      req.addEventListener(type, record);
    });
    req.addEventListener('loadend', function (ev) {
      record(ev);
      resolve({
        status: req.status,
        statusText: req.statusText,
        responseText: req.responseText,
        responseURL: req.responseURL,
        contentType: req.getResponseHeader('content-type'),
        events: events,
      });
    });
    req.open(method, url);
    req.send(null);
    if (options && options.abortAfterSend) req.abort();
  });
}

// Every capture once, then five client-side route changes.
async function captures() {
  const error = once(window, 'error', function (ev) {
    return ev instanceof ErrorEvent;
  });
  setTimeout(function onCartTimer() {
    renderCart(undefined);
  });
  await error;

  const rejection = once(window, 'unhandledrejection');
  chargeCard();
  await rejection;

  const script = document.createElement('script');
  script.src = '/missing.js';
  const scriptFailed = once(script, 'error');
  document.head.appendChild(script);
  const img = document.createElement('img');
  img.src = '/missing.png';
  img.alt = 'missing';
  const imgFailed = once(img, 'error');
  document.getElementById('content').appendChild(img);
  await Promise.all([scriptFailed, imgFailed]);

  const fetched = await fetch('/status/500?token=s3cret', { method: 'POST', body: 'x' });
  await fetched.text();
  await xhr('GET', '/status/503');

  // The API, as an app's error handler (a React boundary) and its code would call it.
  window.frontmon.addBreadcrumb({ message: 'coupon applied', data: { code: 'X1' } });
  window.frontmon.captureException(new Error('checkout failed'), {
    mechanism: 'react',
    tags: { area: 'cart' },
    extra: { componentStack: '\n    at Cart\n    at App' },
  });
  window.frontmon.captureMessage('cache warmed', 'warning');
  window.frontmon.track('purchase', { value: 42 });

  for (const route of ['/app/cart', '/app/address', '/app/shipping', '/app/payment', '/app/done']) {
    history.pushState({}, '', route);
    document.title = 'Shop ' + route;
    // The page view of a route change is taken after the router's turn.
    await new Promise(function (resolve) {
      setTimeout(resolve);
    });
  }
  await new Promise(function (resolve) {
    setTimeout(resolve);
  });
  return { sdk: sdk, initMs: window.INIT_MS, longestTaskMs: longestTask };
}

// The page's own calls, described as the page sees them: the same with and without the SDK.
async function describeFetch(url, init) {
  try {
    const response = await fetch(url, init);
    const out = {
      resolved: true,
      isResponse: response instanceof Response,
      status: response.status,
      statusText: response.statusText,
      ok: response.ok,
      type: response.type,
      url: response.url,
      redirected: response.redirected,
      contentType: response.headers.get('content-type'),
      bodyUsed: response.bodyUsed,
    };
    if (String(url).indexOf('/stream') >= 0) {
      const reader = response.body.getReader();
      const chunks = [];
      for (;;) {
        const next = await reader.read();
        if (next.done) break;
        chunks.push(new TextDecoder().decode(next.value));
      }
      out.chunks = chunks.join('');
    } else {
      out.text = await response.text();
    }
    return out;
  } catch (error) {
    return {
      resolved: false,
      name: error && error.name,
      message: error && error.message,
      isTypeError: error instanceof TypeError,
      isDOMException: error instanceof DOMException,
    };
  }
}

async function behaviour() {
  const closedPort = PAGE.closedPort;
  const out = { fetch: {}, xhr: {} };
  out.fetch.ok = await describeFetch('/status/200');
  out.fetch.notFound = await describeFetch('/status/404');
  out.fetch.serverError = await describeFetch('/status/500', { method: 'PUT', body: 'x' });
  out.fetch.request = await describeFetch(new Request('/status/200', { method: 'DELETE' }));
  out.fetch.url = await describeFetch(new URL('/status/201', location.href));
  out.fetch.networkError = await describeFetch('http://127.0.0.1:' + closedPort + '/');
  const controller = new AbortController();
  const aborted = describeFetch('/slow', { signal: controller.signal });
  controller.abort();
  out.fetch.aborted = await aborted;
  out.fetch.stream = await describeFetch('/stream');
  out.fetch.badArgument = await describeFetch('http://[bad');

  // A failure nobody handles is still unhandled, with the same reason.
  const unhandled = once(window, 'unhandledrejection');
  fetch('http://127.0.0.1:' + closedPort + '/unhandled');
  const ev = await unhandled;
  out.fetch.unhandled = { isTypeError: ev.reason instanceof TypeError, message: ev.reason.message };

  out.xhr.ok = await xhr('GET', '/status/200');
  out.xhr.notFound = await xhr('GET', '/status/404');
  out.xhr.serverError = await xhr('POST', '/status/500');
  out.xhr.networkError = await xhr('GET', 'http://127.0.0.1:' + closedPort + '/');
  out.xhr.aborted = await xhr('GET', '/slow', { abortAfterSend: true });
  out.xhr.stream = await xhr('GET', '/stream');
  out.fetchName = window.fetch.name;
  return out;
}

// An error, and the page left at once: the beacon must still carry it.
async function leave() {
  setTimeout(function onLeaveTimer() {
    throw new Error('left right after this error');
  });
  await once(window, 'error');
  location.href = '/other';
  return {};
}

// One error thrown 10,000 times, each in its own task, then a marker error; the page must
// still answer a click quickly.
async function flood() {
  const count = 10000;
  let seen = 0;
  const all = new Promise(function (resolve) {
    window.addEventListener('error', function (ev) {
      if (ev.error && ev.error.message === 'render loop failed' && ++seen === count) resolve();
    });
  });
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    setTimeout(function renderLoop() {
      throw new Error('render loop failed');
    });
  }
  await all;
  const floodMs = performance.now() - started;
  const clickAt = performance.now();
  const clicked = once(document.getElementById('pay'), 'click');
  document.getElementById('pay').click();
  await clicked;
  const clickMs = performance.now() - clickAt;
  const marker = once(window, 'error');
  setTimeout(function afterTheFlood() {
    throw new Error('after the flood');
  });
  await marker;
  return { seen: seen, floodMs: floodMs, clickMs: clickMs };
}

// Errors and a message the collector first refuses (503, or 429 in rate-limit), flushed; in
// rate-limit, more while the SDK pauses. The driver's collector answers as its plan says.
// rate-limit-reload: round 1 is limited, round 2 is the reloaded page, still in the pause.
async function retry() {
  const ids = [];
  if (PAGE.round === 2) {
    for (let i = 0; i < 2; i++) ids.push(window.frontmon.captureException(new Error('after the reload ' + i)));
    await window.frontmon.flush();
    return { ids: ids };
  }
  for (let i = 0; i < 3; i++) ids.push(window.frontmon.captureException(new Error('retried ' + i)));
  ids.push(window.frontmon.captureMessage('retried message', 'warning'));
  await window.frontmon.flush();
  if (PAGE.scenario === 'rate-limit') {
    for (let i = 0; i < 2; i++) ids.push(window.frontmon.captureException(new Error('while paused ' + i)));
    await window.frontmon.flush();
  }
  return { ids: ids };
}

// Filters and caps: what is ignored, denied, dropped or edited by beforeSend, and the
// per-page cap, with no session-sampled events at all (sessionSampleRate 0).
async function noise() {
  const capture = function (message, stack) {
    const error = new Error(message);
    if (stack) error.stack = 'Error: ' + message + '\n' + stack;
    return window.frontmon.captureException(error);
  };
  const dropped = [
    capture('ResizeObserver loop limit exceeded'),
    capture('ignored by pattern'),
    capture('from an extension', '    at inject (chrome-extension://abcdef/content.js:1:10)'),
    capture('drop me'),
  ];
  const kept = [capture('edit me')];
  for (const letter of 'abcdefghijklmnopqrst') kept.push(capture('distinct error ' + letter));
  await window.frontmon.flush();
  return { dropped: dropped, ids: kept.filter(Boolean), kept: kept, misuse: window.MISUSE };
}

// Called while the browser is offline: the error is kept in localStorage.
async function offline() {
  const id = window.frontmon.captureException(new Error('offline ' + PAGE.round));
  await window.frontmon.flush();
  return { ids: [id], saved: (JSON.parse(localStorage.getItem('__fm_q') || '[]') || []).length };
}

// Counts the SDK's elementsFromPoint calls: 18 make one white-screen check.
function checks() {
  const original = document.elementsFromPoint;
  let calls = 0;
  const waiting = [];
  document.elementsFromPoint = function () {
    calls++;
    if (calls % 18 === 0) {
      const done = calls / 18;
      setTimeout(function () {
        waiting.forEach(function (w) {
          if (w.n === done) w.resolve();
        });
      });
    }
    return original.apply(document, arguments);
  };
  return function (n) {
    return new Promise(function (resolve) {
      if (calls >= n * 18) resolve();
      else waiting.push({ n: n, resolve: resolve });
    });
  };
}
const whiteScreenChecks = PAGE.scenario === 'whitescreen' ? checks() : null;

// What a white screen is not (and, for `blank`, is): the SDK checks after load; on a page
// that has content it stops after the first check, on a late one after the first filled one.
async function whitescreen() {
  const variant = PAGE.variant;
  if (variant === 'blank') {
    await whenSent('white_screen');
  } else if (variant === 'late') {
    await whiteScreenChecks(1);
    document.getElementById('app').innerHTML =
      '<main style="font: 16px sans-serif; padding: 2em; min-height: 100vh; background: #eef">' +
      '<h1>Rendered late</h1><p>After the first check.</p></main>';
    await whiteScreenChecks(2);
  } else if (variant === 'route') {
    await whiteScreenChecks(1);
    history.pushState({}, '', '/app/broken');
    document.getElementById('app').innerHTML = '';
    await whenSent('white_screen');
  } else {
    await whiteScreenChecks(1);
  }
  return { checks: window.SENT.filter(function (t) { return t === 'white_screen'; }).length, scrollY: window.scrollY };
}

// loads: page n of 50 throws its own error and leaves for page n + 1 at once; each error
// must arrive (by beacon), once. Distinct messages (letters, not numbers: numbers are one
// fingerprint) so that the per-fingerprint cap does not apply.
const LOADS = 50;
if (PAGE.scenario === 'loads') {
  const n = Number(new URLSearchParams(location.search).get('n') || '1');
  const name = String.fromCharCode(97 + (n % 26)) + String.fromCharCode(97 + Math.floor(n / 26));
  once(window, 'error').then(function () {
    if (n < LOADS) location.href = '/?n=' + (n + 1);
    else window.LOADS_DONE = true;
  });
  setTimeout(function onLoadTimer() {
    throw new Error('page load ' + name + ' failed');
  });
}

// iframe: inside a sandboxed frame (opaque origin: localStorage and sessionStorage throw),
// an error, flushed, then the site's page is told.
if (PAGE.scenario === 'iframe' && PAGE.variant === 'frame') {
  let storage = 'available';
  try {
    window.localStorage.getItem('x');
  } catch (error) {
    storage = error.name;
  }
  once(window, 'error')
    .then(function () {
      return window.frontmon.flush();
    })
    .then(function () {
      parent.postMessage({ frontmonFrame: { storage: storage, sdk: sdk } }, '*');
    });
  setTimeout(function onFramedTimer() {
    throw new Error('thrown in a sandboxed frame');
  });
}

// What init's own task did (above): the failed call answered and both events on their way.
// (The driver clicked before the load, as early as it could: the test looks for that event.)
async function early() {
  const status = await window.EARLY_FETCH;
  await Promise.all([whenSent('error'), whenSent('api_error')]);
  return { status: status, sent: window.SENT };
}

// `init`'s time and the longest task of the load (reload, cost).
function cost() {
  // Two frames later, the long-task observer has had its entries of the load.
  return new Promise(function (resolve) {
    requestAnimationFrame(function () {
      requestAnimationFrame(function () {
        setTimeout(function () {
          resolve({ initMs: window.INIT_MS, longestTaskMs: longestTask });
        });
      });
    });
  });
}

window.runScenario = function () {
  const scenarios = {
    captures: captures,
    behaviour: behaviour,
    leave: leave,
    flood: flood,
    retry: retry,
    'rate-limit': retry,
    'rate-limit-reload': retry,
    offline: offline,
    noise: noise,
    whitescreen: whitescreen,
    reload: cost,
    cost: cost,
    profile: cost,
    early: early,
  };
  return scenarios[PAGE.scenario]();
};
