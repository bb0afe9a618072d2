#!/usr/bin/env node
// Drives the real @grafana/faro-web-sdk (pinned in package-lock.json) in headless Chromium and
// reports what it sent and how it was answered.
//
//   node e2e/browser/faro.mjs --url http://HOST:PORT[/PREFIX]/collect/PROJECT --key KEY
//                             [--release R] [--fail-first] [--spa] [--record DIR]
//                             [--timeout SECONDS] [--chromium PATH]
//
// It serves the shop page (faro-page/) from its own HTTP server on 127.0.0.1 (another origin
// than the collector's), with the SDK bundled into an IIFE by esbuild, the way a site's build
// would, launches Debian's Chromium through playwright-core and clicks "Pay": an uncaught
// TypeError from a timer, a log, a custom measurement and event, and a route change
// (faro-page/app.js). Once the SDK has sent the error and what the click pushed, the driver makes
// the page hidden, which is when web-vitals reports LCP and CLS; it then waits until the SDK has
// sent a page load (`faro.performance.navigation`), a session start and an LCP, and until every
// request to the collector has been answered. It never sleeps.
//
// --fail-first: the first batch is delivered to the collector, but the page is told 503, as if
// the answer had been lost: the SDK sends the same batch again with the same Idempotency-Key.
// --spa: instead of "Pay", three route changes, each a click on a link of the page's router
// (pushState, faro.api.setView, a new view in the DOM), one after the other once the SDK has
// sent the previous one's `view_changed`. The router names the page's first view `home`.
// --record DIR: each batch the SDK sent is also written to DIR/faro-<version>-<n>.json, with
// its request headers in DIR/faro-<version>-<n>.headers.json (the collector's fixtures).
//
// Prints ONE JSON line on stdout:
//   {"sdk_version", "page_origin", "url", "requests": [{"url", "method", "status", "headers",
//    "request_headers", "idempotency_key", "response_body", "failure", "signals": {...}}],
//    "exceptions": [...], "event_names": [...], "vitals": [...], "page_errors": [...]}
// Exit status 0 if it ran, whatever the server answered; 1 with a message on stderr if the
// browser or the page could not run; 2 for bad arguments.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import {
  bundleAsGlobal,
  cleanUp,
  launchChromium,
  main,
  serve,
  watchRequests,
  withTimeout,
} from './lib/harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PAGE_DIR = path.join(HERE, 'faro-page');
const PACKAGE = '@grafana/faro-web-sdk';

class UsageError extends Error {}

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      key: { type: 'string' },
      release: { type: 'string' },
      'fail-first': { type: 'boolean', default: false },
      spa: { type: 'boolean', default: false },
      record: { type: 'string' },
      timeout: { type: 'string', default: '60' },
      chromium: { type: 'string', default: process.env.FRONTMON_CHROMIUM || '/usr/bin/chromium' },
    },
    strict: true,
  });
  if (!values.url || !values.key) throw new UsageError('--url and --key are required');
  let url;
  try {
    url = new URL(values.url);
  } catch {
    throw new UsageError(`--url is not a URL: ${values.url}`);
  }
  const timeout = Number(values.timeout);
  if (!(timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds');
  return {
    url: url.href,
    origin: url.origin,
    key: values.key,
    release: values.release ?? null,
    failFirst: values['fail-first'],
    spa: values.spa,
    recordDir: values.record,
    timeoutMs: timeout * 1000,
    chromium: values.chromium,
  };
}

async function startPageServer({ faroJs, config }) {
  const configJs = `window.FARO_E2E = ${JSON.stringify(config)};\n`;
  return serve(async (req, res, { pathname }) => {
    const headers = { 'cache-control': 'no-store' };
    const js = { ...headers, 'content-type': 'text/javascript; charset=utf-8' };
    if (pathname === '/' || pathname === '/index.html') {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' });
      res.end(await readFile(path.join(PAGE_DIR, 'index.html')));
    } else if (pathname === '/app.js') {
      res.writeHead(200, js);
      res.end(await readFile(path.join(PAGE_DIR, 'app.js')));
    } else if (pathname === '/config.js') {
      res.writeHead(200, js);
      res.end(configJs);
    } else if (pathname === '/faro.js') {
      res.writeHead(200, js);
      res.end(faroJs);
    } else {
      res.writeHead(pathname === '/favicon.ico' ? 204 : 404, headers);
      res.end();
    }
  });
}

function parseBody(buffer) {
  try {
    return buffer ? JSON.parse(buffer.toString('utf8')) : null;
  } catch {
    return null;
  }
}

// What a batch carries, by signal.
function signals(body) {
  if (!body) return {};
  return {
    exceptions: (body.exceptions || []).map((e) => `${e.type}: ${e.value}`),
    logs: (body.logs || []).map((l) => l.message),
    measurements: (body.measurements || []).map((m) =>
      m.type === 'web-vitals'
        ? Object.keys(m.values).find((k) => ['lcp', 'cls', 'inp', 'fcp', 'ttfb'].includes(k))
        : m.type,
    ),
    events: (body.events || []).map((e) => e.name),
    spans: (body.traces?.resourceSpans || []).length,
  };
}

// Watches the page's POSTs to the collector: every body as sent, and its answer.
function watchPosts(page, origin) {
  const watched = watchRequests(page, {
    accept: (request, url) => url.origin === origin && request.method() === 'POST',
    fields: (request) => ({
      body: parseBody(request.postDataBuffer()),
      key: request.headers()['idempotency-key'] ?? null,
    }),
    describe: async ({ request, body }) => ({
      idempotency_key: (await request.allHeaders())['idempotency-key'] ?? null,
      signals: signals(body),
    }),
  });
  const bodies = () => watched.entries.map((e) => e.body).filter(Boolean);
  return {
    ...watched,
    bodies,
    // Resolves once `predicate(bodies, entries)` holds.
    until: (predicate) => watched.until((entries) => predicate(bodies(), entries)),
  };
}

// The first POST reaches the collector, but the page is answered 503: a lost answer.
async function failFirstBatch(page, opts) {
  let failed = false;
  await page.route(
    (url) => url.origin === opts.origin && url.href.startsWith(opts.url.split('?')[0]),
    async (route) => {
      const request = route.request();
      if (failed || request.method() !== 'POST') {
        await route.continue();
        return;
      }
      failed = true;
      await route.fetch();
      await route.fulfill({
        status: 503,
        headers: {
          'access-control-allow-origin': request.headers().origin ?? '*',
          'content-type': 'application/json',
        },
        body: JSON.stringify({ error: 'the driver lost this answer (--fail-first)' }),
      });
    },
  );
}

const has = (bodies, pick, wanted) => bodies.some((body) => (pick(body) || []).some(wanted));

async function run(opts) {
  const sdkPackage = JSON.parse(
    await readFile(path.join(HERE, 'node_modules', PACKAGE, 'package.json'), 'utf8'),
  );
  const cleanups = [];
  try {
    const pageServer = await startPageServer({
      faroJs: await bundleAsGlobal(PACKAGE, 'FaroSdk'),
      config: { url: opts.url, key: opts.key, release: opts.release, spa: opts.spa },
    });
    cleanups.push(() => pageServer.server.close());
    const browser = await launchChromium(opts.chromium);
    cleanups.push(() => browser.close());
    const page = await (await browser.newContext()).newPage();
    const pageErrors = [];
    const consoleErrors = [];
    page.on('pageerror', (error) => pageErrors.push(String(error.message ?? error)));
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    const requests = watchPosts(page, opts.origin);
    if (opts.failFirst) await failFirstBatch(page, opts);

    await page.goto(`${pageServer.origin}/`, { waitUntil: 'load' });
    if (!(await page.evaluate(() => typeof window.FaroSdk?.faro?.api?.pushError === 'function'))) {
      throw new Error(`the SDK did not start in the page; page errors: ${JSON.stringify(pageErrors)}`);
    }
    const sent = (what, predicate) =>
      withTimeout(requests.until(predicate), opts.timeoutMs, `the SDK sending ${what}`);
    if (opts.spa) {
      for (const route of ['cart', 'address', 'done']) {
        await page.click(`#route-${route}`);
        await sent(`the view change to ${route}`, (b) =>
          has(b, (x) => x.events, (e) => e.name === 'view_changed' && e.attributes?.toView === route),
        );
      }
    } else {
      await page.click('#pay');
      // What the page pushed during the click is held in the SDK's user action until it ends.
      await sent('the error and what the click pushed', (b) =>
        has(b, (x) => x.exceptions, () => true) &&
        has(b, (x) => x.logs, (l) => l.message === 'cache warmed') &&
        has(b, (x) => x.events, (e) => e.name === 'checkout_started'),
      );
    }
    await page.evaluate(() => window.faroScenario.hidden());
    await sent('a page load, a session start and LCP', (b) =>
      has(b, (x) => x.events, (e) => e.name === 'faro.performance.navigation') &&
      has(b, (x) => x.events, (e) => e.name === 'session_start') &&
      has(b, (x) => x.measurements, (m) => m.type === 'web-vitals' && 'lcp' in m.values),
    );
    if (opts.failFirst) {
      await sent('the first batch again', (_, entries) =>
        entries.some((e, at) => at > 0 && e.key !== null && e.key === entries[0].key),
      );
    }
    await withTimeout(requests.settled(), 15000, 'every request to the collector being answered');

    const described = await requests.describe();
    const bodies = requests.bodies();
    if (opts.recordDir) {
      await mkdir(opts.recordDir, { recursive: true });
      for (const [at, body] of bodies.entries()) {
        const base = path.join(opts.recordDir, `faro-${sdkPackage.version}-${at + 1}`);
        await writeFile(`${base}.json`, `${JSON.stringify(body, null, 2)}\n`);
        await writeFile(`${base}.headers.json`, `${JSON.stringify(described[at].request_headers, null, 2)}\n`);
      }
    }
    return {
      sdk_version: sdkPackage.version,
      page_origin: pageServer.origin,
      url: opts.url,
      user_agent: await page.evaluate(() => navigator.userAgent),
      requests: described,
      exceptions: bodies.flatMap((b) => b.exceptions || []),
      event_names: bodies.flatMap((b) => (b.events || []).map((e) => e.name)),
      vitals: bodies.flatMap((b) =>
        (b.measurements || [])
          .filter((m) => m.type === 'web-vitals')
          .map((m) => Object.keys(m.values).find((k) => ['lcp', 'cls', 'inp', 'fcp', 'ttfb'].includes(k))),
      ),
      console_errors: consoleErrors,
      page_errors: pageErrors,
    };
  } finally {
    await cleanUp(cleanups);
  }
}

await main({
  name: 'faro.mjs',
  parseCli,
  usage:
    'usage: node faro.mjs --url URL --key KEY [--release R] ' +
    '[--fail-first] [--spa] [--record DIR] [--timeout SECONDS] [--chromium PATH]',
  run,
  graceMs: 30000,
});
