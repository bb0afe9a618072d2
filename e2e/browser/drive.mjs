#!/usr/bin/env node
// Drives a real @sentry/browser SDK in headless Chromium and reports what it sent.
//
//   node e2e/browser/drive.mjs --sdk 8|latest --dsn DSN --scenario NAME [--release R]
//                              [--record DIR] [--record-429-after N] [--send-default-pii]
//                              [--timeout SECONDS] [--chromium PATH]
//   node e2e/browser/drive.mjs --scenario bundle --bundle FILE [--mode sentry|native]
//                              [--sdk 8|latest] --dsn DSN [--release R] ...
//   node e2e/browser/drive.mjs --sdk 8|latest --scenario bundled-sdk --dsn DSN [--release R] ...
//
// It serves a small shop page (page/) from its own HTTP server on 127.0.0.1 (an ephemeral
// port), with the chosen SDK bundled into an IIFE by esbuild (the npm packages ship no browser
// bundle), launches Debian's Chromium through playwright-core, clicks "Pay" (which runs the
// scenario in the page; see page/app.js), waits until the SDK has flushed and every request to
// the DSN's host has been answered, and prints ONE JSON line on stdout (see README.md). Exit
// status 0 if it ran, whatever the server answered; 1 with a message on stderr if the browser or
// the page could not run; 2 for bad arguments.
//
// --record DIR: the DSN's host becomes a recording server of our own, which answers every
// envelope 200 and writes each request body, after undoing any Content-Encoding, to
// DIR/browser-<version>-<scenario>-<n>.envelope, with its query string and headers beside it in
// a .json file. --record-429-after N makes it answer 429 (with Retry-After and
// X-Sentry-Rate-Limits) to every envelope with an event after the first N.
//
// --scenario bundle: a page of its own (bundlePageHtml) serves FILE, a site's minified build,
// at /static/app.min.js and calls its window.pay(), which throws. --mode sentry (the default):
// the SDK is initialised first and reports the uncaught error; --mode native: no SDK at all, the
// page catches the error and posts it to the collector's native endpoint itself.
//
// --scenario bundled-sdk: the SDK is not a script of its own but bundled with the site's code
// (page/bundled/) into one minified file (bundleSiteWithSdk), served as /static/app.min.js;
// four buttons, clicked one after the other, throw four errors from four places (README.md).

import http from 'node:http';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';

import {
  bundleScript,
  bundleAsGlobal,
  cleanUp,
  launchChromium,
  listen,
  main,
  serve,
  watchRequests,
  withTimeout,
} from './lib/harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PAGE_DIR = path.join(HERE, 'page');

const SDKS = { 8: 'sentry-browser-8', latest: 'sentry-browser-latest' };
const SCENARIOS = [
  'uncaught',
  'rejection',
  'capture-exception',
  'capture-message',
  'same-error-twice',
  'all',
  'tracing',
  'tracing-static',
  'flood',
  'bundle',
  'bundled-sdk',
];
const MODES = ['sentry', 'native'];
// The demo project of scripts/run-local, used in --record mode when no --dsn is given.
const RECORD_DEFAULT_KEY = '5f0c7a3e9b1d4e6f8a2c4b6d8e0f1a3c';
const RECORD_DEFAULT_PROJECT = '1';

class UsageError extends Error {}

function usage() {
  return (
    'usage: node drive.mjs --sdk 8|latest --dsn DSN --scenario NAME [--release R] ' +
    '[--record DIR] [--record-429-after N] [--send-default-pii] [--timeout SECONDS] ' +
    '[--chromium PATH]\n' +
    '       node drive.mjs --scenario bundle --bundle FILE [--mode sentry|native] ' +
    '[--sdk 8|latest] --dsn DSN [--release R] [--timeout SECONDS] [--chromium PATH]\n' +
    '       node drive.mjs --sdk 8|latest --scenario bundled-sdk --dsn DSN [--release R] ...\n' +
    `scenarios: ${SCENARIOS.join(', ')}`
  );
}

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      sdk: { type: 'string' },
      dsn: { type: 'string' },
      scenario: { type: 'string' },
      release: { type: 'string' },
      record: { type: 'string' },
      'record-429-after': { type: 'string' },
      'send-default-pii': { type: 'boolean', default: false },
      timeout: { type: 'string', default: '90' },
      chromium: { type: 'string', default: process.env.FRONTMON_CHROMIUM || '/usr/bin/chromium' },
      bundle: { type: 'string' },
      mode: { type: 'string', default: 'sentry' },
    },
    strict: true,
  });
  if (!SCENARIOS.includes(values.scenario)) {
    throw new UsageError(`unknown --scenario ${values.scenario}`);
  }
  const isBundle = values.scenario === 'bundle';
  if (!MODES.includes(values.mode)) {
    throw new UsageError(`--mode must be sentry or native, not ${values.mode}`);
  }
  if (isBundle !== (values.bundle !== undefined)) {
    throw new UsageError('--bundle FILE goes with --scenario bundle, and only with it');
  }
  if (!isBundle && values.mode !== 'sentry') {
    throw new UsageError('--mode native needs --scenario bundle');
  }
  const native = values.mode === 'native';
  if (native && values.sdk !== undefined) {
    throw new UsageError('--mode native runs no SDK: leave out --sdk');
  }
  if (native && values.record) {
    throw new UsageError('--record records SDK envelopes: not with --mode native');
  }
  if (!native && !SDKS[values.sdk]) {
    throw new UsageError(`--sdk must be 8 or latest, not ${values.sdk}`);
  }
  if (!values.dsn && !values.record) throw new UsageError('--dsn is required without --record');
  if (values.dsn) parseDsn(values.dsn);
  const limit = values['record-429-after'];
  if (limit !== undefined && !(values.record && /^\d+$/.test(limit))) {
    throw new UsageError('--record-429-after needs --record and a number');
  }
  const timeout = Number(values.timeout);
  if (!(timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds');
  return {
    sdk: values.sdk,
    dsn: values.dsn,
    scenario: values.scenario,
    release: values.release,
    recordDir: values.record,
    record429After: limit === undefined ? undefined : Number(limit),
    sendDefaultPii: values['send-default-pii'],
    timeoutMs: timeout * 1000,
    chromium: values.chromium,
    bundle: values.bundle === undefined ? undefined : path.resolve(values.bundle),
    mode: values.mode,
  };
}

// http://KEY@HOST[:PORT][/PREFIX]/PROJECT → its parts; what the SDK itself accepts.
function parseDsn(dsn) {
  let url;
  try {
    url = new URL(dsn);
  } catch {
    throw new UsageError(`--dsn is not a URL: ${dsn}`);
  }
  const segments = url.pathname.split('/');
  const project = segments.pop();
  if (!url.username || !/^\d+$/.test(project) || !/^https?:$/.test(url.protocol)) {
    throw new UsageError(`--dsn must look like http://PUBLIC_KEY@HOST:PORT/PROJECT_ID: ${dsn}`);
  }
  return { url, origin: url.origin, key: url.username, project, prefix: segments.join('/') };
}

// ---- Envelopes: just enough parsing to report item types, event ids and client reports. ----

function parseEnvelope(buf) {
  let pos = 0;
  const line = () => {
    const end = buf.indexOf(0x0a, pos);
    const stop = end === -1 ? buf.length : end;
    const text = buf.subarray(pos, stop).toString('utf8');
    pos = stop + 1;
    return text;
  };
  const header = JSON.parse(line());
  const items = [];
  while (pos < buf.length) {
    const text = line();
    if (text.trim() === '') continue;
    const itemHeader = JSON.parse(text);
    let payload;
    if (typeof itemHeader.length === 'number') {
      payload = buf.subarray(pos, pos + itemHeader.length);
      pos += itemHeader.length + 1;
    } else {
      payload = Buffer.from(line(), 'utf8');
    }
    items.push({ header: itemHeader, payload });
  }
  return { header, items };
}

function summarizeEnvelope(buf) {
  if (!buf || buf.length === 0) return { item_types: [], event_ids: [], client_reports: [] };
  try {
    const { header, items } = parseEnvelope(buf);
    const types = items.map((item) => item.header.type);
    const carriesEvent = types.some((t) => t === 'event' || t === 'transaction');
    const clientReports = [];
    for (const item of items) {
      if (item.header.type !== 'client_report') continue;
      const report = JSON.parse(item.payload.toString('utf8'));
      clientReports.push(...(report.discarded_events || []));
    }
    return {
      item_types: types,
      event_ids: carriesEvent && header.event_id ? [header.event_id] : [],
      client_reports: clientReports,
    };
  } catch (error) {
    return { item_types: [], event_ids: [], client_reports: [], parse_error: String(error) };
  }
}

// ---- The page's server. ----

// The bundled-sdk scenario's script: the site's code and the SDK in one minified IIFE, the way
// a site's build makes it. The SDK's wrappers get minified names, as on such a site.
async function bundleSiteWithSdk(packageName) {
  return bundleScript({
    entryPoints: [path.join(PAGE_DIR, 'bundled', 'main.js')],
    alias: { '@sentry/browser': packageName },
    // esbuild resolves an alias from the working directory, wherever the driver runs from.
    absWorkingDir: HERE,
    minify: true,
  });
}

const BUNDLED_SDK_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>frontmon e2e shop (SDK bundled into the site's script)</title>
  <script src="/config.js"></script>
</head>
<body>
  <main id="content">
    <h1>Checkout</h1>
    <button id="confirm" type="button">Confirm</button>
    <button id="refresh" type="button">Refresh cart</button>
    <button id="pay" type="button">Pay</button>
    <button id="settings" type="button">Settings</button>
  </main>
  <!-- The site's one script: its code and the Sentry SDK, bundled and minified. -->
  <script src="/static/app.min.js"></script>
</body>
</html>
`;

// The bundled-sdk scenario's buttons, clicked in this order, each once the SDK has processed
// the error of the one before. The rejection comes first: the SDK ignores a global
// unhandledrejection in the same turn as an error its wrappers rethrew (`shouldIgnoreOnError`).
const BUNDLED_SDK_CLICKS = ['#confirm', '#refresh', '#pay', '#settings'];

// ---- The bundle scenario's page: a site's minified build, with or without the SDK. ----

function bundlePageHtml(mode) {
  const sdk =
    mode === 'sentry' ? '\n  <script src="/sentry.js"></script>\n  <script src="/init.js"></script>' : '';
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>frontmon e2e shop (minified build)</title>
  <!-- The driver's settings, the SDK initialised (sentry mode), then the site's build. -->
  <script src="/config.js"></script>${sdk}
  <script src="/static/app.min.js"></script>
  <script src="/bundle-page.js"></script>
</head>
<body>
  <main id="content">
    <h1>Checkout</h1>
    <button id="pay" type="button">Pay</button>
  </main>
</body>
</html>
`;
}

// The page's own code in the bundle scenario. The same named functions lead to window.pay() in
// both modes, so the SDK and the native event report the same stack, frame for frame.
const BUNDLE_PAGE_JS = `// window.pay() is the minified build's (/static/app.min.js); it throws a TypeError.
function payWithBundle() {
  return window.pay();
}

// Calls window.pay() from a timer: uncaught (the SDK's to report), or caught and handed over.
function schedulePay(onError) {
  setTimeout(function onPayTimer() {
    if (!onError) {
      payWithBundle();
      return;
    }
    try {
      payWithBundle();
    } catch (error) {
      onError(error);
    }
  });
}

// sentry mode: the error is left uncaught; the SDK reports it (its window.onerror handler and
// the setTimeout wrapper it installs).
async function runWithSentry() {
  const seen = new Promise(function (resolve) {
    window.addEventListener('error', function () {
      setTimeout(resolve);
    }, { once: true });
  });
  schedulePay(null);
  await seen;
  const id = Sentry.lastEventId();
  let flushed;
  try {
    flushed = await Sentry.flush(5000);
  } catch (error) {
    flushed = 'rejected: ' + String(error);
  }
  return { sdk_version: Sentry.SDK_VERSION, captured_ids: id ? [id] : [], flushed: flushed };
}

// native mode: no SDK; the page posts the error to the collector's native endpoint, which the
// DSN locates (http://KEY@HOST[/PREFIX]/PROJECT).
async function runNative() {
  const error = await new Promise(schedulePay);
  const config = window.FRONTMON;
  const dsn = new URL(config.dsn);
  const segments = dsn.pathname.split('/');
  const project = segments.pop();
  const endpoint = dsn.origin + segments.join('/') + '/api/' + project + '/events?key=' +
    encodeURIComponent(dsn.username);
  const event = { type: 'error', message: error.message, stack: error.stack, url: location.href };
  if (config.release) {
    event.release = config.release;
  }
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(event),
  });
  const answer = await response.json().catch(function () {
    return null;
  });
  return {
    sdk_version: null,
    captured_ids: (answer && answer.ids) || [],
    flushed: null,
    native: { status: response.status, sent: event },
  };
}

document.addEventListener('DOMContentLoaded', function onReady() {
  document.getElementById('pay').addEventListener('click', function onPayClick() {
    if (window.Sentry) {
      Sentry.addBreadcrumb({ category: 'ui', message: 'clicked pay' });
    }
    const run = window.FRONTMON.mode === 'native' ? runNative : runWithSentry;
    run().then(window.frontmonDone, function (error) {
      window.frontmonDone({ error: String((error && error.stack) || error) });
    });
  });
});
`;

// `bundle`: {js, mode}, the bundle scenario's minified build and mode, which then has the page;
// `siteJs`: the bundled-sdk scenario's script, which then has the page.
async function startPageServer({ sentryJs, config, bundle, siteJs }) {
  const files = {
    '/': ['index.html', 'text/html; charset=utf-8'],
    '/index.html': ['index.html', 'text/html; charset=utf-8'],
    '/init.js': ['init.js', 'text/javascript; charset=utf-8'],
    '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  };
  const configJs = `window.FRONTMON = ${JSON.stringify(config)};\n`;
  return serve(async (req, res, { pathname }) => {
    const headers = { 'cache-control': 'no-store' };
    if (siteJs && (pathname === '/' || pathname === '/index.html')) {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' });
      res.end(BUNDLED_SDK_PAGE_HTML);
    } else if (siteJs && pathname === '/static/app.min.js') {
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript; charset=utf-8' });
      res.end(siteJs);
    } else if (bundle && (pathname === '/' || pathname === '/index.html')) {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' });
      res.end(bundlePageHtml(bundle.mode));
    } else if (bundle && pathname === '/bundle-page.js') {
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript; charset=utf-8' });
      res.end(BUNDLE_PAGE_JS);
    } else if (bundle && pathname === '/static/app.min.js') {
      // Its map is never served: the processor has it, as on a real site.
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript; charset=utf-8' });
      res.end(bundle.js);
    } else if (pathname === '/config.js') {
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript; charset=utf-8' });
      res.end(configJs);
    } else if (pathname === '/sentry.js' && sentryJs) {
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript; charset=utf-8' });
      res.end(sentryJs);
    } else if (files[pathname]) {
      const [file, type] = files[pathname];
      const body = await readFile(path.join(PAGE_DIR, file));
      res.writeHead(200, { ...headers, 'content-type': type });
      res.end(body);
    } else if (pathname === '/checkout/done') {
      // The tracing scenario's pushState target; only fetched if the page is reloaded.
      res.writeHead(302, { location: '/' });
      res.end();
    } else if (pathname === '/favicon.ico') {
      res.writeHead(204, headers);
      res.end();
    } else {
      res.writeHead(404, headers);
      res.end();
    }
  });
}

// ---- The recording server (--record). ----

function decodeBody(raw, encoding) {
  switch ((encoding || 'identity').trim().toLowerCase()) {
    case 'identity':
      return raw;
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(raw);
    case 'deflate':
      try {
        return zlib.inflateSync(raw);
      } catch {
        return zlib.inflateRawSync(raw);
      }
    case 'br':
      return zlib.brotliDecompressSync(raw);
    default:
      throw new Error(`unsupported content-encoding ${encoding}`);
  }
}

function corsHeaders(req) {
  return {
    'access-control-allow-origin': req.headers.origin || '*',
    'access-control-expose-headers': 'x-sentry-error, x-sentry-rate-limits, retry-after',
    vary: 'Origin',
  };
}

async function startRecorder({ dir, prefix, rateLimitAfter }) {
  await mkdir(dir, { recursive: true });
  const recorded = [];
  let count = 0;
  let eventEnvelopes = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', async () => {
      try {
        if (req.method === 'OPTIONS') {
          res.writeHead(200, {
            ...corsHeaders(req),
            'access-control-allow-methods': 'POST, OPTIONS',
            'access-control-allow-headers': req.headers['access-control-request-headers'] || '*',
            'access-control-max-age': '600',
          });
          res.end();
          return;
        }
        const raw = Buffer.concat(chunks);
        const body = decodeBody(raw, req.headers['content-encoding']);
        const summary = summarizeEnvelope(body);
        let status = 200;
        let answer = {};
        const extra = {};
        if (summary.item_types.some((t) => t === 'event' || t === 'transaction')) {
          eventEnvelopes += 1;
          if (rateLimitAfter !== undefined && eventEnvelopes > rateLimitAfter) {
            status = 429;
            answer = { detail: 'rate limited by the recorder (--record-429-after)' };
            extra['retry-after'] = '60';
            extra['x-sentry-rate-limits'] = '60:error;transaction:project';
          }
        }
        if (status === 200) {
          const header = parseEnvelope(body).header;
          if (header.event_id) answer = { id: header.event_id };
        }
        count += 1;
        const base = `${prefix}-${count}`;
        const url = new URL(req.url, 'http://127.0.0.1');
        await writeFile(path.join(dir, `${base}.envelope`), body);
        const meta = {
          method: req.method,
          path: url.pathname,
          query: url.search.replace(/^\?/, ''),
          headers: req.headers,
          body_bytes_received: raw.length,
          body_bytes: body.length,
          item_types: summary.item_types,
          answered: status,
        };
        await writeFile(path.join(dir, `${base}.json`), `${JSON.stringify(meta, null, 2)}\n`);
        recorded.push(`${base}.envelope`);
        res.writeHead(status, { ...corsHeaders(req), 'content-type': 'application/json', ...extra });
        res.end(JSON.stringify(answer));
      } catch (error) {
        res.writeHead(400, { ...corsHeaders(req), 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: String(error) }));
      }
    });
  });
  const port = await listen(server);
  return { server, port, recorded };
}

// ---- Watching the page's requests to the DSN's host. ----

function watchDsnRequests(page, dsnOrigin) {
  return watchRequests(page, {
    accept: (_, url) => url.origin === dsnOrigin,
    describe: ({ request }) => {
      const body = request.postDataBuffer();
      return { request_body_bytes: body ? body.length : 0, ...summarizeEnvelope(body) };
    },
    responseChars: 2048,
  });
}

// bundled-sdk: one error per button, each waited for in the SDK's beforeSend; then flushed.
async function clickThroughBundledSdk(page) {
  for (const [at, button] of BUNDLED_SDK_CLICKS.entries()) {
    await page.click(button);
    // No timeout of its own: the scenario's (--timeout) bounds the whole.
    await page.waitForFunction((count) => window.FRONTMON_BUNDLED.sent.length >= count, at + 1, {
      timeout: 0,
    });
  }
  return page.evaluate(() => window.FRONTMON_BUNDLED.flush());
}

// ---- The run. ----

async function run(opts) {
  // No SDK in the bundle scenario's native mode.
  const packageName = SDKS[opts.sdk];
  const sdkPackage = packageName
    ? JSON.parse(await readFile(path.join(HERE, 'node_modules', packageName, 'package.json'), 'utf8'))
    : null;
  const bundleJs = opts.bundle ? await readFile(opts.bundle) : null;
  const cleanups = [];
  try {
    let dsn = opts.dsn;
    let recorder = null;
    if (opts.recordDir) {
      recorder = await startRecorder({
        dir: opts.recordDir,
        prefix: `browser-${sdkPackage.version}-${opts.scenario}${opts.sendDefaultPii ? '-pii' : ''}`,
        rateLimitAfter: opts.record429After,
      });
      cleanups.push(() => recorder.server.close());
      const parts = dsn
        ? parseDsn(dsn)
        : { key: RECORD_DEFAULT_KEY, project: RECORD_DEFAULT_PROJECT, prefix: '' };
      dsn = `http://${parts.key}@127.0.0.1:${recorder.port}${parts.prefix}/${parts.project}`;
    }
    const dsnOrigin = parseDsn(dsn).origin;

    const bundledSdk = opts.scenario === 'bundled-sdk';
    // bundled-sdk: no /sentry.js; the SDK is in the site's script.
    const sentryJs = packageName && !bundledSdk ? await bundleAsGlobal(packageName, 'Sentry') : null;
    const siteJs = bundledSdk ? await bundleSiteWithSdk(packageName) : null;
    const page_ = await startPageServer({
      sentryJs,
      config: {
        dsn,
        release: opts.release ?? null,
        scenario: opts.scenario,
        mode: opts.mode,
        tracing: { tracing: true, 'tracing-static': 'static' }[opts.scenario] ?? false,
        sendDefaultPii: opts.sendDefaultPii,
      },
      bundle: bundleJs ? { js: bundleJs, mode: opts.mode } : null,
      siteJs,
    });
    cleanups.push(() => page_.server.close());

    // launch() gives the browser a fresh, temporary user-data-dir and deletes it on close.
    const browser = await launchChromium(opts.chromium);
    cleanups.push(() => browser.close());
    const context = await browser.newContext();
    const page = await context.newPage();

    const consoleErrors = [];
    const pageErrors = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => pageErrors.push(String(error.message ?? error)));
    const requests = watchDsnRequests(page, dsnOrigin);

    let reportDone;
    const pageResult = new Promise((resolve) => {
      reportDone = resolve;
    });
    await page.exposeFunction('frontmonDone', (result) => reportDone(result));

    await page.goto(`${page_.origin}/`, { waitUntil: 'load' });
    const sdkLoaded = await page.evaluate(() => typeof window.Sentry?.init === 'function');
    if (sentryJs && !sdkLoaded) {
      throw new Error(`the SDK did not load in the page; page errors: ${JSON.stringify(pageErrors)}`);
    }
    if (siteJs && !(await page.evaluate(() => typeof window.FRONTMON_BUNDLED?.flush === 'function'))) {
      throw new Error(
        `the site's bundled script did not run; page errors: ${JSON.stringify(pageErrors)}`,
      );
    }
    if (bundleJs && !(await page.evaluate(() => typeof window.pay === 'function'))) {
      throw new Error(
        `the bundle did not define window.pay; page errors: ${JSON.stringify(pageErrors)}`,
      );
    }
    const scenarioDone = bundledSdk ? clickThroughBundledSdk(page) : pageResult;
    if (!bundledSdk) await page.click('#pay');
    let result;
    try {
      result = await withTimeout(scenarioDone, opts.timeoutMs, 'the scenario finishing in the page');
    } catch (error) {
      const state = await page
        .evaluate(() => {
          if (!window.Sentry) return null;
          const span = window.Sentry.getActiveSpan();
          return {
            ended_root_spans: window.FRONTMON_ENDED_ROOT_SPANS,
            active_span: span ? window.Sentry.spanToJSON(span) : null,
          };
        })
        .catch((e) => String(e));
      throw new Error(
        `${error.message}; page state ${JSON.stringify(state)}; page errors ` +
          `${JSON.stringify(pageErrors)}; console errors ${JSON.stringify(consoleErrors)}`,
      );
    }
    if (result?.error) throw new Error(`the scenario failed in the page: ${result.error}`);
    await withTimeout(requests.settled(), 15000, 'every request to the DSN host being answered');

    const described = await requests.describe();
    const eventIds = [...new Set(described.flatMap((r) => r.event_ids))];
    const statusCounts = {};
    for (const r of described) {
      const key = r.status === null ? 'failed' : String(r.status);
      statusCounts[key] = (statusCounts[key] || 0) + 1;
    }
    return {
      sdk: opts.sdk ?? null,
      sdk_version: result.sdk_version,
      scenario: opts.scenario,
      ...(bundleJs ? { mode: opts.mode, bundle: opts.bundle } : {}),
      dsn,
      page_origin: page_.origin,
      user_agent: await page.evaluate(() => navigator.userAgent),
      flushed: result.flushed,
      requests: described,
      status_counts: statusCounts,
      event_ids: eventIds,
      captured_ids: result.captured_ids,
      client_reports: described.flatMap((r) => r.client_reports),
      ...(result.flood ? { dropped: result.flood.outcomes, captured: result.flood.captured } : {}),
      ...(result.native ? { native: result.native } : {}),
      ...(result.errors ? { errors: result.errors } : {}),
      console_errors: consoleErrors,
      page_errors: pageErrors,
      ...(recorder ? { recorded: recorder.recorded } : {}),
    };
  } finally {
    await cleanUp(cleanups);
  }
}

await main({ name: 'drive.mjs', parseCli, usage: usage(), run, graceMs: 30000 });
