// What the real-browser drivers (drive.mjs, faro.mjs, own-sdk.mjs) share: launching headless
// Chromium, serving on a free port, watching the page's requests and describing them, and
// the command's frame (arguments, a watchdog, one JSON report on stdout).

import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';

// e2e/browser, where the SDKs' packages are installed.
const BROWSER_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

// No GPU, no sandbox (containers), and nothing the browser would fetch on its own, so the
// only requests are the page's.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium(executablePath) {
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

// Listens on a free port of 127.0.0.1; the port.
export function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

// Serves `handle(req, res, url)` on a free port of 127.0.0.1: `{ server, origin }`. A handler
// that throws answers 500 with the error.
export async function serve(handle) {
  const server = http.createServer(async (req, res) => {
    try {
      await handle(req, res, new URL(req.url, 'http://127.0.0.1'));
    } catch (error) {
      res.writeHead(500, { 'cache-control': 'no-store' });
      res.end(String(error));
    }
  });
  const port = await listen(server);
  return { server, origin: `http://127.0.0.1:${port}` };
}

// One script for a page (an IIFE, in memory) built by esbuild with `options` (what to build).
export async function bundleScript(options) {
  const result = await esbuild.build({
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    write: false,
    logLevel: 'silent',
    ...options,
  });
  return result.outputFiles[0].contents;
}

// An SDK's package as one script for a page, its exports in `window[globalName]`.
export function bundleAsGlobal(packageName, globalName) {
  return bundleScript({
    stdin: {
      contents: `import * as ${globalName} from '${packageName}';\nwindow.${globalName} = ${globalName};\n`,
      resolveDir: BROWSER_DIR,
      sourcefile: `${globalName}-entry.js`,
    },
  });
}

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Runs `cleanups` last first; each is best effort, the process exits next.
export async function cleanUp(cleanups) {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch {
      // Closing is best effort; the process exits next.
    }
  }
}

// The page's requests that `accept(request, url)` takes, as the browser made them and as they
// were answered. `fields(request)` adds to each entry when it is seen; `describe(entry)` adds
// to what `describe()` says of it; `responseChars` bounds the answer's body kept.
export function watchRequests(page, { accept, fields = () => ({}), describe = () => ({}), responseChars }) {
  const entries = [];
  const changed = new Set();
  const notify = () => {
    for (const wake of changed) wake();
  };
  page.on('request', (request) => {
    let url;
    try {
      url = new URL(request.url());
    } catch {
      return;
    }
    if (!accept(request, url)) return;
    let finish;
    const done = new Promise((resolve) => {
      finish = resolve;
    });
    entries.push({ request, done, finish, failure: null, ...fields(request) });
    notify();
  });
  const settle = (failed) => (request) => {
    const entry = entries.find((e) => e.request === request);
    if (!entry) return;
    if (failed) entry.failure = request.failure()?.errorText ?? 'failed';
    entry.finish();
    notify();
  };
  page.on('requestfinished', settle(false));
  page.on('requestfailed', settle(true));

  return {
    entries,
    // Resolves once `predicate(entries)` holds, re-checked at every request seen or answered.
    until(predicate) {
      return new Promise((resolve) => {
        const check = () => {
          if (predicate(entries)) {
            changed.delete(check);
            resolve();
          }
        };
        changed.add(check);
        check();
      });
    },
    // Until every request seen so far (including those seen while waiting) has been answered.
    async settled() {
      let seen = -1;
      while (seen !== entries.length) {
        seen = entries.length;
        await Promise.all(entries.map((e) => e.done));
      }
    },
    async describe() {
      const out = [];
      for (const entry of entries) {
        const { request, failure } = entry;
        const response = failure ? null : await request.response().catch(() => null);
        let responseBody = response ? await response.text().catch(() => null) : null;
        if (responseBody !== null && responseChars !== undefined) responseBody = responseBody.slice(0, responseChars);
        out.push({
          url: request.url(),
          method: request.method(),
          status: response ? response.status() : null,
          headers: response ? await response.allHeaders().catch(() => ({})) : {},
          request_headers: await request.allHeaders(),
          response_body: responseBody,
          failure,
          ...(await describe(entry)),
        });
      }
      return out;
    },
  };
}

// The command's frame: `run(opts)`'s report as one line of JSON on stdout, exit 0; a usage
// error exits 2, anything else 1. A watchdog `graceMs` past the run's own timeout makes sure
// a wedged browser never hangs the test that spawned the driver.
export async function main({ name, parseCli, usage, run, graceMs }) {
  let opts;
  try {
    opts = parseCli(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${name}: ${error.message}\n${usage ? `${usage}\n` : ''}`);
    process.exit(2);
  }
  const watchdog = setTimeout(() => {
    process.stderr.write(`${name}: gave up after ${(opts.timeoutMs + graceMs) / 1000} s\n`);
    process.exit(1);
  }, opts.timeoutMs + graceMs);
  watchdog.unref();
  try {
    const report = await run(opts);
    process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
  } catch (error) {
    process.stderr.write(`${name}: ${error.stack || error}\n`);
    process.exit(1);
  }
}
