// The test page of frontmon's own SDK (own-sdk.mjs serves it). `window.PAGE` holds the
// driver's settings; each scenario is a function that resolves with what it saw.
'use strict';

const PAGE = window.PAGE;

function initSdk() {
  if (!window.frontmon) return false;
  window.frontmon.init({
    dsn: PAGE.dsn,
    release: 'shop@2.0.0',
    environment: 'test',
    clicks: true,
    // The scenarios wait for their events themselves: no timer in the way.
    flushIntervalMs: 60000,
  });
  window.frontmon.setUser({ id: 'user-7' });
  window.frontmon.setTag('checkout', 'v3');
  return true;
}
const sdk = initSdk();

// A real click with a slow handler: an interaction for INP, a click breadcrumb.
document.getElementById('pay').addEventListener('click', function onPay() {
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
  return { sdk: sdk };
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

window.runScenario = function () {
  const scenarios = { captures: captures, behaviour: behaviour, leave: leave, flood: flood };
  return scenarios[PAGE.scenario]();
};
