#!/usr/bin/env node
// Drives frontmon's own browser SDK (sdk/), loaded from the collector, in headless Chromium.
//
//   node e2e/browser/own-sdk.mjs --dsn DSN --scenario captures|behaviour|leave|flood
//                                [--screenshot FILE] [--timeout SECONDS] [--chromium PATH]
//   node e2e/browser/own-sdk.mjs --scenario profile [--loads N] [--names]
//
// `profile` (no collector needed: the driver serves dist/, or with --names the SDK built with
// its names kept) profiles N cold loads with V8's sampling profiler every 10 µs and reports
// where the block measured around `init` spent its time, by function (sdk/README.md, "Cost
// on the main thread").
//
// It serves a small shop (own-sdk/page.js) from its own HTTP server on 127.0.0.1: another
// origin than the collector, whose `/sdk/v1/frontmon.min.js` the page loads with a script tag
// (the DSN's origin), then runs the scenario in the page, has the SDK flush, simulates the page
// being hidden (when the SDK sends by beacon, and web-vitals reports CLS and INP), waits until
// every request to the collector has been answered, and prints ONE JSON line: what the page
// reported, and every request to the collector with its method, headers, body and answer.
// `behaviour` loads the page twice, without the SDK and with it, and reports both. Exit 0 if it
// ran, 1 with a message on stderr if the browser or the page could not, 2 for bad arguments.

import http from 'node:http';
import net from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import * as esbuild from 'esbuild';

import { launchChromium, listen, main, serve, watchRequests, withTimeout } from './lib/harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCENARIOS = [
  'captures',
  'behaviour',
  'leave',
  'flood',
  'reload',
  'whitescreen',
  'retry',
  'rate-limit',
  'rate-limit-reload',
  'offline',
  'noise',
  'loads',
  'iframe',
  'frameworks',
  'cost',
  'early',
  'profile',
];
// Scenarios answered by the driver's own collector, which answers as its plan says.
// A flush sends one request (every kind in one batch): it gets the refusal.
// profile: only the SDK's script and 200s are needed of a collector.
const PLANS = { retry: ['503:1'], 'rate-limit': ['429:2'], 'rate-limit-reload': ['429:4'], offline: [], noise: [], profile: [] };
const WHITE_SCREEN_VARIANTS = ['normal', 'late', 'scrolled', 'blank', 'route'];
// frameworks: a real Vue 3 and a real React app (own-sdk/vue-app.js, react-app.js) with the
// helpers of sdk/README.md.
const FRAMEWORKS = ['vue', 'react'];
// cost: cold loads (each in a new browser context: no HTTP cache, no storage) with the SDK,
// and as many without it, alternating.
const COST_LOADS = 20;
const SDK_DIR = path.resolve(HERE, '../../sdk');
const SDK_DIST = path.join(SDK_DIR, 'dist/frontmon.min.js');
// profile: V8's sampling interval, in microseconds (its default is 1000).
const PROFILE_INTERVAL_US = 10;

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      dsn: { type: 'string' },
      scenario: { type: 'string' },
      screenshot: { type: 'string' },
      timeout: { type: 'string' },
      // profile: how many cold loads, and `names`: the SDK built from sdk/src with its names
      // kept (minified otherwise like dist/), so that the profile names its functions.
      loads: { type: 'string', default: '20' },
      names: { type: 'boolean', default: false },
      chromium: { type: 'string', default: process.env.FRONTMON_CHROMIUM || '/usr/bin/chromium' },
    },
    strict: true,
  });
  if (!SCENARIOS.includes(values.scenario)) throw new Error(`unknown --scenario ${values.scenario}`);
  let dsn = null;
  if (!PLANS[values.scenario]) {
    try {
      dsn = new URL(values.dsn);
    } catch {
      throw new Error(`--dsn is not a URL: ${values.dsn}`);
    }
  } else if (values.dsn) {
    throw new Error(`--scenario ${values.scenario} runs its own collector: no --dsn`);
  }
  // cost: 40 traced cold loads, minutes on a busy machine.
  const timeout = Number(values.timeout ?? (values.scenario === 'cost' || values.scenario === 'profile' ? 600 : 90));
  if (!(timeout > 0)) throw new Error('--timeout must be a positive number of seconds');
  const loads = Number(values.loads);
  if (!(Number.isInteger(loads) && loads > 0)) throw new Error('--loads must be a positive integer');
  return { ...values, loads, collector: dsn && dsn.origin, timeoutMs: timeout * 1000 };
}

function pageHtml(opts, withSdk, variant) {
  const sdk = withSdk
    ? `\n  <script src="${opts.collector}/sdk/v1/frontmon.min.js" crossorigin="anonymous"></script>`
    : '';
  const head = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>frontmon shop</title>
  <script src="/config.js${variant ? `?variant=${variant}` : ''}" crossorigin="anonymous"></script>${sdk}
</head>
`;
  const shop = `<main id="content" style="font: 16px sans-serif; padding: 2em">
    <h1>Checkout</h1>
    <p>Two items in the cart, 42.00 EUR.</p>
    <label>Card <input id="card" autocomplete="off"></label>
    <button id="pay" type="button" style="font-size: 1.5em"><span>Pay</span></button>
    <p id="status"></p>
  </main>`;
  const bodies = {
    // The app's mount point stays empty: its script fails before it renders.
    blank: `<div id="app"></div>
  <script>throw new Error('the app failed to mount');</script>`,
    // A skeleton the page fills in after the SDK's first check.
    late: '<div id="app"></div>',
    normal: `<div id="app">${shop}</div>`,
    // Rendered, then a route change whose view fails to render.
    route: `<div id="app">${shop}</div>`,
    // A long page, scrolled far down: what is in view is text.
    scrolled: `<div id="app" style="font: 16px sans-serif; padding: 2em">${'<p>A long article paragraph, one of many.</p>'.repeat(400)}</div>
  <script>window.scrollTo(0, 6000);</script>`,
  };
  if (opts.scenario === 'frameworks') {
    return `${head}<body style="margin: 0">
  <div id="root"></div>
  <script src="/page.js" crossorigin="anonymous"></script>
  <script src="/framework/${variant}.js" crossorigin="anonymous"></script>
</body>
</html>
`;
  }
  if (opts.scenario === 'iframe' && variant !== 'frame') {
    // The site's page: the shop in a sandboxed iframe (an opaque origin, no storage).
    return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>frontmon shop (framed)</title></head>
<body>
  <iframe sandbox="allow-scripts" src="/app/frame?variant=frame" width="800" height="400"></iframe>
  <script>
    window.addEventListener('message', function (ev) {
      if (ev.data && ev.data.frontmonFrame) window.FRAME_DONE = ev.data.frontmonFrame;
    });
  </script>
</body>
</html>
`;
  }
  return `${head}<body style="margin: 0">
  ${bodies[variant] ?? shop}
  <script src="/page.js" crossorigin="anonymous"></script>
</body>
</html>
`;
}

// The collector of the transport scenarios: serves the committed SDK script and answers each
// POST of events by its plan (`503:1`: 503 with Retry-After: 1), then 200. It records what
// came when, and resolves `delivered(ids)` once each id has been answered 200.
async function startFakeCollector(plan, script) {
  const received = [];
  const accepted = new Map();
  const waiting = [];
  const server = http.createServer((req, res) => {
    const cors = { 'access-control-allow-origin': req.headers.origin || '*' };
    if (req.method === 'GET' && req.url.startsWith('/sdk/v1/frontmon.min.js')) {
      res.writeHead(200, { ...cors, 'content-type': 'text/javascript; charset=utf-8' });
      res.end(script);
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let events = [];
      try {
        events = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        events = [];
      }
      const answer = plan[received.length] ?? '200';
      const [status, retryAfter] = answer.split(':');
      received.push({
        at: Date.now(),
        method: req.method,
        content_type: req.headers['content-type'] ?? null,
        status: Number(status),
        ids: events.map((e) => e.event_id),
        types: events.map((e) => e.type),
        messages: events.map((e) => e.message ?? null),
        tags: events.map((e) => e.tags ?? null),
      });
      const headers = { ...cors, 'access-control-expose-headers': 'Retry-After, X-Sentry-Rate-Limits', 'content-type': 'application/json' };
      if (retryAfter) headers['retry-after'] = retryAfter;
      if (status === '429') headers['x-sentry-rate-limits'] = `${retryAfter}::project`;
      res.writeHead(Number(status), headers);
      res.end(status === '200' ? JSON.stringify({ ids: events.map((e) => e.event_id) }) : '{"error":"planned"}');
      if (status === '200') {
        for (const e of events) accepted.set(e.event_id, (accepted.get(e.event_id) ?? 0) + 1);
        for (const w of waiting) if (w.ids.every((id) => accepted.has(id))) w.resolve();
      }
    });
  });
  const port = await listen(server);
  return {
    server,
    origin: `http://127.0.0.1:${port}`,
    received,
    delivered(ids) {
      return new Promise((resolve) => {
        if (ids.every((id) => accepted.has(id))) resolve();
        else waiting.push({ ids, resolve });
      });
    },
  };
}

// A port nothing listens on: connecting to it fails at once (a network error).
async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// The app of a framework, bundled as a site would: its production build, not minified (so
// that React's component stacks name the components).
async function bundleApp(framework) {
  const result = await esbuild.build({
    entryPoints: [path.join(HERE, 'own-sdk', `${framework}-app.js`)],
    bundle: true,
    format: 'iife',
    target: 'es2019',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
    define: {
      'process.env.NODE_ENV': '"production"',
      __VUE_OPTIONS_API__: 'true',
      __VUE_PROD_DEVTOOLS__: 'false',
      __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
    },
  });
  return result.outputFiles[0].contents;
}

async function startPageServer(opts, config) {
  const pageJs = await readFile(path.join(HERE, 'own-sdk', 'page.js'));
  const apps = {};
  if (opts.scenario === 'frameworks') {
    for (const framework of FRAMEWORKS) apps[framework] = await bundleApp(framework);
  }
  return serve((req, res, url) => {
    const headers = { 'cache-control': 'no-store' };
    const status = /^\/status\/(\d{3})$/.exec(url.pathname);
    const app = /^\/framework\/(\w+)\.js$/.exec(url.pathname);
    if (app && apps[app[1]]) {
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript; charset=utf-8' });
      res.end(apps[app[1]]);
    } else if (url.pathname === '/' || url.pathname.startsWith('/app/')) {
      // captures: a strict CSP that allows nothing but the page's origin and the collector.
      const csp =
        opts.scenario === 'captures'
          ? {
              'content-security-policy':
                `default-src 'self'; script-src 'self' ${opts.collector}; ` +
                `connect-src 'self' ${opts.collector}; style-src 'self' 'unsafe-inline'`,
            }
          : {};
      res.writeHead(200, { ...headers, ...csp, 'content-type': 'text/html; charset=utf-8' });
      res.end(pageHtml(opts, url.searchParams.get('sdk') !== '0', url.searchParams.get('variant')));
    } else if (url.pathname === '/config.js') {
      res.writeHead(200, {
        ...headers,
        'content-type': 'text/javascript; charset=utf-8',
        'access-control-allow-origin': '*',
      });
      const variant = url.searchParams.get('variant');
      res.end(`window.PAGE = ${JSON.stringify({ ...config, variant })};\n`);
    } else if (url.pathname === '/page.js') {
      // Readable by the sandboxed frame's opaque origin too, so its errors are not muted.
      res.writeHead(200, {
        ...headers,
        'content-type': 'text/javascript; charset=utf-8',
        'access-control-allow-origin': '*',
      });
      res.end(pageJs);
    } else if (status) {
      res.writeHead(Number(status[1]), { ...headers, 'content-type': 'text/plain', 'x-answer': status[1] });
      res.end(`status ${status[1]}`);
    } else if (url.pathname === '/stream') {
      res.writeHead(200, { ...headers, 'content-type': 'text/plain' });
      res.write('one,');
      setTimeout(() => res.write('two,'), 20);
      setTimeout(() => res.end('three'), 40);
    } else if (url.pathname === '/slow') {
      // Never answered: the page aborts it.
      req.on('close', () => res.destroy());
    } else if (url.pathname === '/other') {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>other</title><p>Another page.</p>');
    } else {
      res.writeHead(404, headers);
      res.end();
    }
  });
}

// Every request to the collector, as the browser made it and as it was answered.
function watchCollector(page, origin) {
  return watchRequests(page, {
    accept: (_, url) => url.origin === origin,
    describe: ({ request }) => {
      const body = request.postData();
      let events = null;
      try {
        events = body ? JSON.parse(body) : null;
      } catch {
        events = null;
      }
      return { resource_type: request.resourceType(), events };
    },
  });
}

// What a browser does when the tab is hidden: web-vitals reports, the SDK sends by beacon.
function hide(page) {
  return page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
    delete document.visibilityState;
  });
}

function watchPage(page, opts) {
  const pageErrors = [];
  const consoleErrors = [];
  page.on('pageerror', (error) => pageErrors.length < 50 && pageErrors.push(String(error.message ?? error)));
  page.on('console', (m) => m.type() === 'error' && consoleErrors.length < 50 && consoleErrors.push(m.text()));
  return { pageErrors, consoleErrors, requests: watchCollector(page, opts.collector) };
}

async function openPage(context, url, watched, withSdk) {
  const page = await context.newPage();
  Object.assign(watched, watchPage(page, watched.opts));
  if (watched.opts.scenario === 'early') {
    // The earliest click a user could make: a real one, as soon as the button is there and
    // still (Playwright's checks), while the page may still be loading.
    await page.goto(url, { waitUntil: 'commit' });
    await page.click('#pay');
    await page.waitForLoadState('load');
  } else {
    await page.goto(url, { waitUntil: 'load' });
  }
  // loads: the page is already on its way to the next one; iframe: the SDK is in the frame.
  if (watched.opts.scenario === 'loads' || watched.opts.scenario === 'iframe') return page;
  const loaded = await page.evaluate(() => typeof window.frontmon?.init === 'function');
  if (withSdk && !loaded) {
    throw new Error(`the SDK did not load from the collector; page errors: ${JSON.stringify(watched.pageErrors)}`);
  }
  return page;
}

async function finish(page, watched, { flush = true } = {}) {
  if (flush) {
    await page.evaluate(() => window.frontmon.flush());
    await hide(page);
  }
  await withTimeout(watched.requests.settled(), 15000, 'every request to the collector being answered');
  return {
    page_url: page.url(),
    requests: await watched.requests.describe(),
    page_errors: watched.pageErrors,
    console_errors: watched.consoleErrors,
  };
}

async function runPage(browser, opts, origin, { withSdk, variant }) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const watched = { opts };
  const query = [withSdk ? null : 'sdk=0', variant ? `variant=${variant}` : null].filter(Boolean).join('&');
  try {
    const page = await openPage(context, `${origin}/${query ? `?${query}` : ''}`, watched, withSdk);
    // A real interaction before the scenario (INP, a click breadcrumb and event).
    if (opts.scenario === 'captures') {
      // Typed text must never leave the page: not in a click, not in a breadcrumb.
      await page.fill('#card', '4111 1111 1111 1111');
      await page.click('#card');
      await page.click('#pay span');
    }
    const navigated = opts.scenario === 'leave' ? page.waitForURL('**/other', { timeout: 0 }) : null;
    // loads: the pages lead from one to the next themselves; wait for the last. iframe: the
    // framed page runs by itself and tells the site's page.
    const result =
      opts.scenario === 'loads'
        ? await page.waitForFunction(() => window.LOADS_DONE, null, { timeout: 0 }).then(() => ({}))
        : opts.scenario === 'iframe'
          ? await page.waitForFunction(() => window.FRAME_DONE, null, { timeout: 0 }).then((h) => h.jsonValue())
          : await page.evaluate(() => window.runScenario()).catch((error) => {
              // Leaving is the scenario: on a loaded machine the next page can replace this
              // one before the answer of `runScenario` comes back.
              if (navigated && /context was destroyed|navigat/i.test(String(error))) return {};
              throw error;
            });
    if (navigated) await navigated;
    if (opts.screenshot && withSdk) {
      const file = variant ? opts.screenshot.replace(/(\.png)?$/, `-${variant}.png`) : opts.screenshot;
      await page.screenshot({ path: file, fullPage: false });
    }
    const framed = opts.scenario === 'iframe' || opts.scenario === 'loads';
    const report = await finish(page, watched, { flush: withSdk && !navigated && !framed });
    if (opts.scenario !== 'reload') return { result, ...report };
    // The same tab reloaded: the second page's events, and the first's.
    await page.reload({ waitUntil: 'load' });
    const again = await page.evaluate(() => window.runScenario());
    const second = await finish(page, watched);
    return { result, reloaded: again, ...second };
  } finally {
    await context.close();
  }
}

// The SDK's own main-thread time in a DevTools timeline trace of a load: its script's
// evaluation (compiling included), and the calls into it from tasks of their own: the first
// timer's is the setup task; all of them (the setup, its timers, listeners and observers until
// the page measured) are what the SDK cost besides `init`. Measured by the browser, not by the
// SDK, so that nothing it moved out of `init` goes unseen.
function sdkTime(events, sdkUrl) {
  const of = (e) => e.ph === 'X' && e.args && e.args.data && e.args.data.url;
  const evaluated = events.find((e) => e.name === 'EvaluateScript' && of(e) === sdkUrl);
  const calls = events.filter((e) => e.name === 'FunctionCall' && of(e) === sdkUrl).sort((a, b) => a.ts - b.ts);
  const timers = events.filter((e) => e.name === 'TimerFire' && e.ph === 'X');
  const setup = calls.find((c) => timers.some((t) => t.tid === c.tid && t.ts <= c.ts && c.ts + c.dur <= t.ts + t.dur));
  return {
    evalMs: evaluated ? evaluated.dur / 1000 : null,
    setupMs: setup ? setup.dur / 1000 : null,
    tasksMs: calls.reduce((sum, c) => sum + c.dur, 0) / 1000,
  };
}

// One load of the shop, traced: what the page measured, and (with the SDK) the SDK's time.
async function tracedLoad(context, url, sdkUrl) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  const events = [];
  cdp.on('Tracing.dataCollected', (data) => events.push(...data.value));
  const complete = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
  await cdp.send('Tracing.start', {
    transferMode: 'ReportEvents',
    traceConfig: { includedCategories: ['devtools.timeline'] },
  });
  await page.goto(url, { waitUntil: 'load' });
  const measured = await page.evaluate(() => window.runScenario());
  await cdp.send('Tracing.end');
  await complete;
  return sdkUrl ? { ...measured, ...sdkTime(events, sdkUrl) } : measured;
}

// cost: `init`'s time, the SDK's other main-thread time and the longest task of each cold
// load, with the SDK and without it. Both are traced: the same conditions.
async function runCost(browser, opts, origin) {
  const loads = { with_sdk: [], without_sdk: [] };
  const sdkUrl = `${opts.collector}/sdk/v1/frontmon.min.js`;
  for (let i = 0; i < COST_LOADS; i++) {
    for (const withSdk of [true, false]) {
      const context = await browser.newContext();
      try {
        const url = `${origin}/${withSdk ? '' : '?sdk=0'}`;
        loads[withSdk ? 'with_sdk' : 'without_sdk'].push(await tracedLoad(context, url, withSdk && sdkUrl));
      } finally {
        await context.close();
      }
    }
  }
  const median = (values) => {
    const sorted = values.slice().sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const summary = (list, key) => {
    const values = list.map((m) => m[key]).filter((v) => typeof v === 'number');
    return { n: values.length, median: median(values), max: Math.max(...values) };
  };
  for (const load of loads.with_sdk) load.totalMs = load.initMs + load.evalMs + load.tasksMs;
  return {
    loads,
    init_ms: summary(loads.with_sdk, 'initMs'),
    // The same block around functions that do nothing (page.js): what measuring costs.
    empty_ms: summary(loads.without_sdk, 'initMs'),
    eval_ms: summary(loads.with_sdk, 'evalMs'),
    setup_ms: summary(loads.with_sdk, 'setupMs'),
    tasks_ms: summary(loads.with_sdk, 'tasksMs'),
    total_ms: summary(loads.with_sdk, 'totalMs'),
    longest_task_ms: {
      with_sdk: summary(loads.with_sdk, 'longestTaskMs'),
      without_sdk: summary(loads.without_sdk, 'longestTaskMs'),
    },
  };
}

// profile: the SDK built from sdk/src as dist/ is, but with its names kept, so that a profile
// names its functions; with the same compile hint (dist's first line) as dist/.
async function sdkWithNames() {
  const [hint] = (await readFile(SDK_DIST, 'utf8')).split('\n', 1);
  const result = await esbuild.build({
    entryPoints: ['src/iife.ts'],
    absWorkingDir: SDK_DIR,
    bundle: true,
    format: 'iife',
    target: 'es2019',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
    minifySyntax: true,
    minifyWhitespace: true,
    banner: { js: hint.startsWith('//#') ? hint : '' },
  });
  return result.outputFiles[0].contents;
}

// Where the time of the measured block around `init` (page.js's initSdk: init, setUser, setTag)
// went in one load's V8 CPU profile. A sample is in it when its stack has a frame of the SDK's
// script called by page.js; a sample's time is the gap to the next one. `self`: by the function
// the sample was in (a native one, such as addEventListener, by its name); `total`: by every
// function of its stack below page.js. Garbage collection and other work V8 does outside of
// JavaScript are samples of their own, not under `init`: those between the block's first and
// last sample are counted as `between`.
function profiledBlock(profile, sdkUrl, pageUrl) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const name = (f) => {
    const where = f.url === sdkUrl ? 'sdk' : f.url ? path.basename(new URL(f.url).pathname) : 'native';
    return `${f.functionName || '(anonymous)'} ${where}${f.url ? `:${f.lineNumber + 1}:${f.columnNumber + 1}` : ''}`;
  };
  // The frames of a sample below page.js, innermost first, or null outside the block.
  const blockOf = (id) => {
    const frames = [];
    for (let n = nodes.get(id); n; n = nodes.get(parent.get(n.id))) {
      const up = nodes.get(parent.get(n.id));
      frames.push(n.callFrame);
      if (n.callFrame.url === sdkUrl && up && up.callFrame.url === pageUrl) return frames;
    }
    return null;
  };
  const self = {};
  const total = {};
  const add = (to, key, us) => {
    to[key] = (to[key] || 0) + us;
  };
  let at = profile.startTime;
  let first = null;
  let last = null;
  const outside = [];
  let inBlock = 0;
  let samples = 0;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i];
    const us = profile.timeDeltas[i + 1] || 0;
    const frames = blockOf(id);
    if (!frames) {
      outside.push({ at, us, what: nodes.get(id).callFrame.functionName });
      return;
    }
    first = first ?? at;
    last = at + us;
    inBlock += us;
    samples++;
    add(self, name(frames[0]), us);
    for (const key of new Set(frames.map(name))) add(total, key, us);
  });
  let between = 0;
  for (const s of outside) {
    if (first !== null && s.at > first && s.at < last) {
      between += s.us;
      add(self, `${s.what} (between)`, s.us);
    }
  }
  return { samples, sampledMs: inBlock / 1000, betweenMs: between / 1000, spanMs: first === null ? 0 : (last - first) / 1000, self, total };
}

// profile: cold loads (each in a new browser context) with the SDK, each profiled by V8's
// sampling profiler from the start of the navigation; the measured block's time by function,
// its median and mean over the loads.
async function runProfile(browser, opts, origin, fake) {
  const sdkUrl = `${fake.origin}/sdk/v1/frontmon.min.js`;
  const pageUrl = `${origin}/page.js`;
  const loads = [];
  for (let i = 0; i < opts.loads; i++) {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: PROFILE_INTERVAL_US });
      await cdp.send('Profiler.start');
      await page.goto(`${origin}/`, { waitUntil: 'load' });
      const measured = await page.evaluate(() => window.runScenario());
      const { profile } = await cdp.send('Profiler.stop');
      loads.push({ ...measured, ...profiledBlock(profile, sdkUrl, pageUrl) });
    } finally {
      await context.close();
    }
  }
  const median = (values) => {
    const sorted = values.slice().sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const ms = (us) => Math.round(us) / 1000;
  // Per function: the median and the mean over the loads (a load without it counts 0), in ms;
  // the largest first by median, then by mean. A few slow loads weigh on the mean only.
  const byFunction = (key) => {
    const names = new Set(loads.flatMap((load) => Object.keys(load[key])));
    return Object.fromEntries(
      [...names]
        .map((name) => {
          const values = loads.map((load) => load[key][name] || 0);
          return [name, { median: ms(median(values)), mean: ms(values.reduce((a, b) => a + b, 0) / loads.length) }];
        })
        .sort((a, b) => b[1].median - a[1].median || b[1].mean - a[1].mean),
    );
  };
  const over = (key) => median(loads.map((l) => l[key]));
  return {
    interval_us: PROFILE_INTERVAL_US,
    loads: loads.map(({ initMs, samples, sampledMs, betweenMs, spanMs, self }) => ({
      initMs,
      samples,
      sampledMs,
      betweenMs,
      spanMs,
      // The functions the load spent its samples in, the largest first (ms).
      self: Object.fromEntries(
        Object.entries(self)
          .sort((a, b) => b[1] - a[1])
          .map(([name, us]) => [name, ms(us)]),
      ),
    })),
    median_ms: { init: over('initMs'), sampled: over('sampledMs'), between: over('betweenMs'), span: over('spanMs') },
    self_ms: byFunction('self'),
    total_ms: byFunction('total'),
  };
}

// retry, rate-limit, offline: against the driver's own collector.
async function runTransport(browser, opts, origin, fake) {
  const context = await browser.newContext();
  if (opts.scenario === 'noise') {
    // What another script (or an older SDK) may have left under the SDK's keys.
    await context.addInitScript(() => {
      localStorage.setItem('__fm_s', '{"id":5}');
      localStorage.setItem('__fm_v', '42');
      localStorage.setItem('__fm_q', '{"type":1,"message":"not a list"}');
    });
  }
  const watched = { opts };
  try {
    let page = await openPage(context, `${origin}/`, watched, true);
    if (opts.scenario === 'rate-limit-reload') {
      // Limited, then the page reloaded during the pause: the next page must wait too.
      const first = await page.evaluate(() => window.runScenario());
      await page.reload({ waitUntil: 'load' });
      await page.evaluate(() => {
        window.PAGE.round = 2;
      });
      const second = await page.evaluate(() => window.runScenario());
      await withTimeout(fake.delivered(first.ids.concat(second.ids)), 30000, 'every event being delivered');
      return { result: { first, second }, received: fake.received, page_errors: watched.pageErrors };
    }
    if (opts.scenario !== 'offline') {
      const result = await page.evaluate(() => window.runScenario());
      await withTimeout(fake.delivered(result.ids), 30000, 'every event being delivered');
      return { result, received: fake.received, page_errors: watched.pageErrors };
    }
    // Offline: kept, then sent when the browser is back online.
    await context.setOffline(true);
    const first = await page.evaluate(() => window.runScenario());
    await context.setOffline(false);
    await withTimeout(fake.delivered(first.ids), 30000, 'the first offline event being delivered');
    // Offline again, and the page closed: the next page of the site sends it.
    await context.setOffline(true);
    await page.evaluate(() => {
      window.PAGE.round = 2;
    });
    const second = await page.evaluate(() => window.runScenario());
    await page.close({ runBeforeUnload: false });
    await context.setOffline(false);
    page = await openPage(context, `${origin}/`, watched, true);
    await withTimeout(fake.delivered(second.ids), 30000, 'the second offline event being delivered by the next page');
    return { result: { first, second }, received: fake.received, page_errors: watched.pageErrors };
  } finally {
    await context.close();
  }
}

async function run(opts) {
  const port = await closedPort();
  const script = opts.scenario === 'profile' && opts.names ? await sdkWithNames() : await readFile(SDK_DIST);
  const fake = PLANS[opts.scenario] ? await startFakeCollector(PLANS[opts.scenario], script) : null;
  if (fake) opts = { ...opts, collector: fake.origin, dsn: `http://test-key@${fake.origin.slice(7)}/1` };
  const whiteScreen = opts.scenario === 'whitescreen' ? { delayMs: 100, intervalMs: 100, retries: 3 } : undefined;
  const pageServer = await startPageServer(opts, {
    dsn: opts.dsn,
    scenario: opts.scenario,
    closedPort: port,
    round: 1,
    whiteScreen,
  });
  const browser = await launchChromium(opts.chromium);
  try {
    const report = { scenario: opts.scenario, page_origin: pageServer.origin };
    if (opts.scenario === 'profile') {
      Object.assign(report, await runProfile(browser, opts, pageServer.origin, fake));
    } else if (fake) {
      Object.assign(report, await runTransport(browser, opts, pageServer.origin, fake));
    } else if (opts.scenario === 'cost') {
      Object.assign(report, await runCost(browser, opts, pageServer.origin));
    } else if (opts.scenario === 'whitescreen' || opts.scenario === 'frameworks') {
      report.variants = {};
      const variants = opts.scenario === 'whitescreen' ? WHITE_SCREEN_VARIANTS : FRAMEWORKS;
      for (const variant of variants) {
        report.variants[variant] = await runPage(browser, opts, pageServer.origin, { withSdk: true, variant });
      }
    } else {
      if (opts.scenario === 'behaviour') {
        report.without_sdk = await runPage(browser, opts, pageServer.origin, { withSdk: false });
      }
      Object.assign(report, await runPage(browser, opts, pageServer.origin, { withSdk: true }));
    }
    return report;
  } finally {
    await browser.close().catch(() => {});
    pageServer.server.closeAllConnections();
    pageServer.server.close();
    if (fake) {
      fake.server.closeAllConnections();
      fake.server.close();
    }
  }
}

await main({ name: 'own-sdk.mjs', parseCli, run, graceMs: 0 });
