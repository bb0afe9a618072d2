#!/usr/bin/env node
// Drives frontmon's own browser SDK (sdk/), loaded from the collector, in headless Chromium.
//
//   node e2e/browser/own-sdk.mjs --dsn DSN --scenario captures|behaviour|leave|flood
//                                [--screenshot FILE] [--timeout SECONDS] [--chromium PATH]
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

import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCENARIOS = ['captures', 'behaviour', 'leave', 'flood'];
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      dsn: { type: 'string' },
      scenario: { type: 'string' },
      screenshot: { type: 'string' },
      timeout: { type: 'string', default: '90' },
      chromium: { type: 'string', default: process.env.FRONTMON_CHROMIUM || '/usr/bin/chromium' },
    },
    strict: true,
  });
  if (!SCENARIOS.includes(values.scenario)) throw new Error(`unknown --scenario ${values.scenario}`);
  let dsn;
  try {
    dsn = new URL(values.dsn);
  } catch {
    throw new Error(`--dsn is not a URL: ${values.dsn}`);
  }
  const timeout = Number(values.timeout);
  if (!(timeout > 0)) throw new Error('--timeout must be a positive number of seconds');
  return { ...values, collector: dsn.origin, timeoutMs: timeout * 1000 };
}

function pageHtml(opts, withSdk) {
  const sdk = withSdk
    ? `\n  <script src="${opts.collector}/sdk/v1/frontmon.min.js" crossorigin="anonymous"></script>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>frontmon shop</title>
  <script src="/config.js"></script>${sdk}
</head>
<body>
  <main id="content" style="font: 16px sans-serif; padding: 2em">
    <h1>Checkout</h1>
    <p>Two items in the cart, 42.00 EUR.</p>
    <button id="pay" type="button" style="font-size: 1.5em">Pay</button>
    <p id="status"></p>
  </main>
  <script src="/page.js"></script>
</body>
</html>
`;
}

// A port nothing listens on: connecting to it fails at once (a network error).
async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startPageServer(opts, config) {
  const pageJs = await readFile(path.join(HERE, 'own-sdk', 'page.js'));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const headers = { 'cache-control': 'no-store' };
    const status = /^\/status\/(\d{3})$/.exec(url.pathname);
    if (url.pathname === '/' || url.pathname.startsWith('/app/')) {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' });
      res.end(pageHtml(opts, url.searchParams.get('sdk') !== '0'));
    } else if (url.pathname === '/config.js') {
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript; charset=utf-8' });
      res.end(`window.PAGE = ${JSON.stringify(config)};\n`);
    } else if (url.pathname === '/page.js') {
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript; charset=utf-8' });
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
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

// Every request to the collector, as the browser made it and as it was answered.
function watchRequests(page, origin) {
  const entries = [];
  page.on('request', (request) => {
    if (new URL(request.url()).origin !== origin) return;
    let finish;
    const done = new Promise((resolve) => {
      finish = resolve;
    });
    entries.push({ request, done, finish, failure: null });
  });
  const settle = (failed) => (request) => {
    const entry = entries.find((e) => e.request === request);
    if (!entry) return;
    if (failed) entry.failure = request.failure()?.errorText ?? 'failed';
    entry.finish();
  };
  page.on('requestfinished', settle(false));
  page.on('requestfailed', settle(true));
  return {
    async settled() {
      let seen = -1;
      while (seen !== entries.length) {
        seen = entries.length;
        await Promise.all(entries.map((e) => e.done));
      }
    },
    async describe() {
      const out = [];
      for (const { request, failure } of entries) {
        const response = failure ? null : await request.response().catch(() => null);
        const body = request.postData();
        let events = null;
        try {
          events = body ? JSON.parse(body) : null;
        } catch {
          events = null;
        }
        out.push({
          url: request.url(),
          method: request.method(),
          resource_type: request.resourceType(),
          request_headers: await request.allHeaders(),
          events,
          status: response ? response.status() : null,
          headers: response ? await response.allHeaders().catch(() => ({})) : {},
          response_body: response ? await response.text().catch(() => null) : null,
          failure,
        });
      }
      return out;
    },
  };
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// What a browser does when the tab is hidden: web-vitals reports, the SDK sends by beacon.
function hide(page) {
  return page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
    delete document.visibilityState;
  });
}

async function runPage(browser, opts, origin, { withSdk }) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  const pageErrors = [];
  const consoleErrors = [];
  page.on('pageerror', (error) => pageErrors.length < 50 && pageErrors.push(String(error.message ?? error)));
  page.on('console', (m) => m.type() === 'error' && consoleErrors.length < 50 && consoleErrors.push(m.text()));
  const requests = watchRequests(page, opts.collector);
  try {
    await page.goto(`${origin}/${withSdk ? '' : '?sdk=0'}`, { waitUntil: 'load' });
    const loaded = await page.evaluate(() => typeof window.frontmon?.init === 'function');
    if (withSdk && !loaded) {
      throw new Error(`the SDK did not load from the collector; page errors: ${JSON.stringify(pageErrors)}`);
    }
    // A real interaction before the scenario (INP, a click breadcrumb and event).
    if (opts.scenario === 'captures') await page.click('#pay');
    const navigated = opts.scenario === 'leave' ? page.waitForURL('**/other', { timeout: 0 }) : null;
    const result = await page.evaluate(() => window.runScenario());
    if (navigated) {
      await navigated;
    } else if (withSdk) {
      await page.evaluate(() => window.frontmon.flush());
      await hide(page);
    }
    if (opts.screenshot && withSdk) await page.screenshot({ path: opts.screenshot, fullPage: true });
    await withTimeout(requests.settled(), 15000, 'every request to the collector being answered');
    return {
      page_url: page.url(),
      result,
      requests: await requests.describe(),
      page_errors: pageErrors,
      console_errors: consoleErrors,
    };
  } finally {
    await context.close();
  }
}

async function run(opts) {
  const port = await closedPort();
  const pageServer = await startPageServer(opts, { dsn: opts.dsn, scenario: opts.scenario, closedPort: port });
  const browser = await chromium.launch({ executablePath: opts.chromium, headless: true, args: CHROMIUM_ARGS });
  try {
    const report = {
      scenario: opts.scenario,
      page_origin: pageServer.origin,
      user_agent: await (async () => {
        const context = await browser.newContext();
        const ua = await (await context.newPage()).evaluate(() => navigator.userAgent);
        await context.close();
        return ua;
      })(),
    };
    if (opts.scenario === 'behaviour') {
      report.without_sdk = await runPage(browser, opts, pageServer.origin, { withSdk: false });
    }
    Object.assign(report, await runPage(browser, opts, pageServer.origin, { withSdk: true }));
    return report;
  } finally {
    await browser.close().catch(() => {});
    pageServer.server.closeAllConnections();
    pageServer.server.close();
  }
}

async function main() {
  let opts;
  try {
    opts = parseCli(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`own-sdk.mjs: ${error.message}\n`);
    process.exit(2);
  }
  const watchdog = setTimeout(() => {
    process.stderr.write(`own-sdk.mjs: gave up after ${opts.timeoutMs / 1000} s\n`);
    process.exit(1);
  }, opts.timeoutMs);
  watchdog.unref();
  try {
    const report = await run(opts);
    process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
  } catch (error) {
    process.stderr.write(`own-sdk.mjs: ${error.stack || error}\n`);
    process.exit(1);
  }
}

await main();
