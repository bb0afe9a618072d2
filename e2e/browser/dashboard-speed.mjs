#!/usr/bin/env node
// The dashboard's page speed as a browser sees it (scripts/dashboard-speed starts the
// processor and the account; this only drives Chromium).
//
//   node e2e/browser/dashboard-speed.mjs --base URL --email EMAIL --password PW
//        [--project N] [--runs 20] [--warmups 2] [--commit C] [--database NAME]
//        [--timeout SECONDS] [--chromium PATH]
//
// Signs in, finds an issue and a release through their lists, then visits every screen
// (warm-ups + runs) times, each visit a full navigation (page.goto, no client-side routing),
// round by round so that a change in the machine's load hits every screen alike. Each visit
// is read from Navigation Timing: server time (responseStart − requestStart: what the
// processor took, plus loopback), DOMContentLoaded and load (from the navigation's start).
// Prints a Markdown table (p50/p95 per screen against the targets) on stdout; progress on
// stderr. Exit 0 if it ran, 1 if the browser or a page could not, 2 for bad arguments.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { DESKTOP, signIn, watchedPage } from './dashboard-common.mjs';
import { launchChromium, withTimeout } from './lib/harness.mjs';

// docs/performance.md#dashboard-page-speed: the issue's "Fast" targets.
const SERVER_TARGET_MS = 150;
const DCL_TARGET_MS = 500;

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      base: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      project: { type: 'string', default: '1' },
      runs: { type: 'string', default: '20' },
      warmups: { type: 'string', default: '2' },
      commit: { type: 'string', default: '?' },
      database: { type: 'string', default: '?' },
      timeout: { type: 'string', default: '1800' },
      chromium: { type: 'string', default: process.env.FRONTMON_CHROMIUM || '/usr/bin/chromium' },
    },
    strict: true,
  });
  for (const key of ['base', 'email', 'password']) {
    if (!values[key]) throw new Error(`--${key} is required`);
  }
  const runs = Number(values.runs);
  const warmups = Number(values.warmups);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a whole number ≥ 1');
  if (!Number.isInteger(warmups) || warmups < 0) throw new Error('--warmups must be a whole number ≥ 0');
  return { ...values, runs, warmups, timeoutMs: Number(values.timeout) * 1000 };
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

// Nearest rank: the smallest sample at or above fraction q of them.
function percentile(samples, q) {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

// One full navigation to `url`, and its Navigation Timing once the load event has ended.
async function visit(page, url) {
  const response = await page.goto(url, { waitUntil: 'load' });
  if (!response || response.status() !== 200) {
    throw new Error(`${url} answered ${response ? response.status() : 'nothing'}`);
  }
  // loadEventEnd is set just after the load event's handlers, which goto does not wait for.
  await page.waitForFunction(() => performance.getEntriesByType('navigation')[0].loadEventEnd > 0);
  return page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0];
    return { server: n.responseStart - n.requestStart, dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, bytes: n.transferSize };
  });
}

// The first link of a list page (`selector`), or null when the list is empty.
async function firstLink(page, url, selector) {
  await page.goto(url, { waitUntil: 'load' });
  const link = await page.$(selector);
  return link ? new URL(await link.getAttribute('href'), url).href : null;
}

function table(opts, screens, samples, load) {
  const ms = (v) => Math.round(v).toString();
  const mark = (v, target) => (v < target ? `${ms(v)}` : `**${ms(v)}** ✗`);
  const lines = [
    `Dashboard page speed: database ${opts.database}, commit ${opts.commit}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ` +
      `${opts.runs} full navigations per screen after ${opts.warmups} warm-ups; load average (1/5/15 min) before ${load.before}, after ${load.after}.`,
    '',
    `| screen | server p50 | server p95 (< ${SERVER_TARGET_MS}) | DCL p50 | DCL p95 (< ${DCL_TARGET_MS}) | load p50 | load p95 | transfer KiB |`,
    '|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const [name] of screens) {
    const s = samples[name];
    const server = s.map((x) => x.server);
    const dcl = s.map((x) => x.dcl);
    const loaded = s.map((x) => x.load);
    lines.push(
      `| ${name} | ${ms(percentile(server, 0.5))} | ${mark(percentile(server, 0.95), SERVER_TARGET_MS)} | ` +
        `${ms(percentile(dcl, 0.5))} | ${mark(percentile(dcl, 0.95), DCL_TARGET_MS)} | ` +
        `${ms(percentile(loaded, 0.5))} | ${ms(percentile(loaded, 0.95))} | ${(s[s.length - 1].bytes / 1024).toFixed(1)} |`,
    );
  }
  lines.push('', 'Times in ms; ✗: over the target. Server = responseStart − requestStart; DCL and load from the navigation\'s start.');
  return lines.join('\n');
}

async function run(opts) {
  const browser = await launchChromium(opts.chromium);
  try {
    return await withTimeout(
      (async () => {
        const { page } = await watchedPage(browser, opts, DESKTOP);
        await signIn(page, opts, opts.email);
        const root = `${opts.base}/projects/${opts.project}`;
        const issue = await firstLink(page, `${root}/issues`, 'table.issues tbody tr .title-cell a');
        const release = await firstLink(page, `${root}/releases`, 'table.releases tbody .name-cell a');
        const screens = [
          ['Projects', `${opts.base}/projects`],
          ['Overview', `${root}/overview`],
          ['Issues', `${root}/issues`],
          ['Issue', issue],
          ['Performance', `${root}/performance`],
          ['Traffic', `${root}/traffic`],
          ['Releases', `${root}/releases`],
          ['Release', release],
          ['Alerts', `${opts.base}/alerts`],
        ].filter(([name, url]) => {
          if (!url) process.stderr.write(`dashboard-speed: no ${name.toLowerCase()} to open (its list is empty); left out\n`);
          return url;
        });
        for (const [name, url] of screens) process.stderr.write(`dashboard-speed: ${name}: ${url}\n`);
        const samples = Object.fromEntries(screens.map(([name]) => [name, []]));
        const load = { before: loadavg() };
        for (let round = 0; round < opts.warmups + opts.runs; round++) {
          for (const [name, url] of screens) {
            const timing = await visit(page, url);
            if (round >= opts.warmups) samples[name].push(timing);
          }
          process.stderr.write(`dashboard-speed: round ${round + 1}/${opts.warmups + opts.runs}${round < opts.warmups ? ' (warm-up)' : ''}\n`);
        }
        load.after = loadavg();
        return table(opts, screens, samples, load);
      })(),
      opts.timeoutMs,
      'the speed run',
    );
  } finally {
    await browser.close();
  }
}

// Not harness.mjs's main: what this prints is a Markdown table, not one JSON line.
let opts;
try {
  opts = parseCli(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`dashboard-speed: ${error.message}\n`);
  process.exit(2);
}
try {
  const report = await run(opts);
  process.stdout.write(`${report}\n`, () => process.exit(0));
} catch (error) {
  process.stderr.write(`dashboard-speed: ${error.stack || error}\n`);
  process.exit(1);
}
