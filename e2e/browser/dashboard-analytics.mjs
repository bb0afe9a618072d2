#!/usr/bin/env node
// Drives frontmon's analytics screens (Overview, Performance, Traffic, and the issue list's
// New and Regressed tabs) in headless Chromium.
//
//   node e2e/browser/dashboard-analytics.mjs --base URL --admin EMAIL --member EMAIL
//        --password PW --project N --other-project N --shots DIR [--timeout SECONDS]
//        [--chromium PATH]
//
// As the admin, then as the member: opens each screen, waits for its charts, and reads what
// it shows: every figure's and table cell's exact value (`data-value`), whether each chart's
// canvas has anything drawn and how many points it plotted, the period it shows; in English
// and 简体中文, on a desktop (axe-core on each) and a 390 px phone (the layout must hold).
// The member is also sent to the other project's screens. Screenshots go to DIR.
// Prints ONE JSON line: what it saw. Exit 0 if it ran, 1 if the browser or a page could not,
// 2 for bad arguments.

import { readFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { AXE, DESKTOP, PHONE, axe, overflow, shoot, signIn, watchedPage } from './dashboard-common.mjs';
import { launchChromium, main, withTimeout } from './lib/harness.mjs';

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      base: { type: 'string' },
      admin: { type: 'string' },
      member: { type: 'string' },
      password: { type: 'string' },
      project: { type: 'string' },
      'other-project': { type: 'string' },
      shots: { type: 'string' },
      timeout: { type: 'string', default: '120' },
      chromium: { type: 'string', default: process.env.FRONTMON_CHROMIUM || '/usr/bin/chromium' },
    },
    strict: true,
  });
  for (const key of ['base', 'admin', 'member', 'password', 'project', 'other-project', 'shots']) {
    if (!values[key]) throw new Error(`--${key} is required`);
  }
  return { ...values, timeoutMs: Number(values.timeout) * 1000 };
}

// Everything a screen shows that the test compares with the JSON API.
async function read(page) {
  try {
    await page.waitForFunction(() => [...document.querySelectorAll('[data-chart]')].every((c) => c.hasAttribute('data-points')), null, { timeout: 15_000 });
  } catch (error) {
    const state = await page.evaluate(() => ({ uPlot: typeof window.uPlot, island: (document.getElementById('charts') || {}).textContent, scripts: [...document.scripts].map((s) => s.src) }));
    throw new Error(`the charts of ${page.url()} were not drawn: ${JSON.stringify(state).slice(0, 2000)}`);
  }
  return page.evaluate(() => {
    const value = (el) => el.getAttribute('data-value');
    const figures = {};
    for (const f of document.querySelectorAll('[data-figure]')) {
      figures[f.getAttribute('data-figure')] = value(f.querySelector('.figure-value'));
    }
    const tables = {};
    for (const t of document.querySelectorAll('table.stats')) {
      tables[t.id] = [...t.querySelectorAll('tbody tr')].map((tr) => [
        tr.querySelector('.name-cell').textContent,
        ...[...tr.querySelectorAll('td[data-value]')].map(value),
      ]);
    }
    // A canvas is drawn on when any of its pixels is not transparent.
    const charts = [...document.querySelectorAll('[data-chart]')].map((holder) => {
      const canvas = holder.querySelector('canvas');
      let painted = 0;
      if (canvas) {
        const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
      }
      return { id: holder.getAttribute('data-chart'), painted, points: Number(holder.getAttribute('data-points')) };
    });
    const lists = {};
    for (const l of document.querySelectorAll('.issue-list')) lists[l.id] = [...l.querySelectorAll('li a')].map((a) => a.textContent);
    const period = document.querySelector('.period-shown');
    return {
      h1: document.querySelector('h1').firstChild.textContent.trim(),
      lang: document.documentElement.lang,
      since: period && period.getAttribute('data-since'),
      until: period && period.getAttribute('data-until'),
      figures,
      tables,
      charts,
      lists,
      rows: [...document.querySelectorAll('table.issues tbody tr .title-cell a')].map((a) => a.textContent),
      pwned: window.__pwned === true || document.querySelectorAll('img[src="x"], iframe, object, embed, main script:not([type="application/json"])').length,
    };
  });
}

async function run(opts) {
  mkdirSync(opts.shots, { recursive: true });
  const axeSource = await readFile(AXE, 'utf8');
  const browser = await launchChromium(opts.chromium);
  const report = { screens: {}, shots: [], member: {} };
  const root = (project) => `${opts.base}/projects/${project}`;
  const screens = [
    ['overview', '/overview'],
    ['performance', '/performance'],
    ['traffic', '/traffic'],
    ['issues-new', '/issues?status=new'],
    ['issues-regressed', '/issues?status=regressed'],
  ];
  try {
    await withTimeout(
      (async () => {
        const admin = await watchedPage(browser, opts, DESKTOP);
        await signIn(admin.page, opts, opts.admin);
        // From the project's address, through the section links, as a person would.
        await admin.page.goto(root(opts.project));
        report.project_lands_on = new URL(admin.page.url()).pathname;
        await Promise.all([admin.page.waitForURL(/\/traffic/), admin.page.click('nav.sections a[href*="/traffic"]')]);
        report.boosted_traffic = await read(admin.page);
        for (const lang of ['en', 'zh']) {
          for (const [name, path] of screens) {
            const sep = path.includes('?') ? '&' : '?';
            await admin.page.goto(`${root(opts.project)}${path}${sep}lang=${lang}`);
            const seen = await read(admin.page);
            seen.overflow = await overflow(admin.page);
            if (lang === 'en') seen.axe = await axe(admin.page, axeSource);
            report.screens[`${name}-${lang}`] = seen;
            await shoot(admin.page, opts, `${name}-${lang}`, report.shots);
          }
        }
        await admin.page.goto(`${root(opts.project)}/overview?lang=en`);
        report.admin_seen = admin.seen;
        await admin.context.close();

        const phone = await watchedPage(browser, opts, PHONE);
        await signIn(phone.page, opts, opts.admin);
        for (const [name, path] of [
          ['phone-overview-en', '/overview?lang=en'],
          ['phone-performance-en', '/performance?lang=en'],
          ['phone-traffic-en', '/traffic?lang=en'],
          ['phone-overview-zh', '/overview?lang=zh'],
          ['phone-performance-zh', '/performance?lang=zh'],
          ['phone-traffic-zh', '/traffic?lang=zh'],
          ['phone-issues-new-zh', '/issues?status=new&lang=zh'],
        ]) {
          await phone.page.goto(`${root(opts.project)}${path}`);
          const seen = await read(phone.page);
          seen.overflow = await overflow(phone.page);
          report.screens[name] = seen;
          await shoot(phone.page, opts, name, report.shots);
        }
        await phone.context.close();

        const member = await watchedPage(browser, opts, DESKTOP);
        await signIn(member.page, opts, opts.member);
        for (const [name, path] of screens) {
          const own = await member.page.goto(`${root(opts.project)}${path}`);
          report.member[name] = { status: own.status(), ...(await read(member.page)) };
          const other = await member.page.goto(`${root(opts['other-project'])}${path}`);
          report.member[name].other_status = other.status();
        }
        await shoot(member.page, opts, 'member-traffic-other-en', report.shots);
        report.member_seen = member.seen;
        await member.context.close();
      })(),
      opts.timeoutMs,
      'the analytics screens',
    );
  } finally {
    await browser.close();
  }
  return report;
}

main({ name: 'dashboard-analytics.mjs', parseCli, run, graceMs: 10_000 });
