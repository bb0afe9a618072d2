#!/usr/bin/env node
// Drives frontmon's analytics screens (Overview, Performance, Traffic, Releases and each
// release's page, and the issue list's New and Regressed tabs) in headless Chromium.
//
//   node e2e/browser/dashboard-analytics.mjs --base URL --admin EMAIL --member EMAIL
//        --password PW --project N --other-project N --shots DIR [--timeout SECONDS]
//        [--chromium PATH]
//
// As the admin, then as the member: opens each screen, waits for its charts, and reads what
// it shows: every figure's and table cell's exact value (`data-value`), whether each chart's
// canvas has anything drawn and how many points it plotted, the period it shows; in English
// and 简体中文, on a desktop (axe-core on each) and a 390 px phone (the layout must hold).
// Each release's page is reached by its link in the Releases table. The admin also opens the
// other project's (empty) Performance and Releases screens, to read their empty states.
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
    const previous = {};
    for (const t of document.querySelectorAll('table.stats')) {
      tables[t.id] = [...t.querySelectorAll('tbody tr')].map((tr) => [
        tr.querySelector('.name-cell').textContent,
        ...[...tr.querySelectorAll('td[data-value]')].map(value),
      ]);
      previous[t.id] = [...t.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td[data-previous]')].map((td) => td.getAttribute('data-previous')));
    }
    // Empty states: what a table would list, said instead of it.
    const empty = {};
    for (const p of document.querySelectorAll('p[id$="-empty"], #release-not-seen')) empty[p.id] = p.textContent;
    const links = [...document.querySelectorAll('table.releases tbody .name-cell a')].map((a) => ({ name: a.textContent, href: a.href }));
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
      subject: (document.querySelector('h1 small') || {}).textContent,
      lang: document.documentElement.lang,
      since: period && period.getAttribute('data-since'),
      until: period && period.getAttribute('data-until'),
      figures,
      tables,
      previous,
      empty,
      links,
      issue_links: [...document.querySelectorAll('.issue-list a')].map((a) => new URL(a.href).pathname),
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
    ['releases', '/releases'],
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
          // Each release's page, through its link in the table (its name percent-encoded).
          const links = report.screens[`releases-${lang}`].links;
          for (const [i, link] of links.entries()) {
            await admin.page.goto(`${root(opts.project)}/releases?lang=${lang}`);
            await Promise.all([admin.page.waitForURL((url) => url.href.split('?')[0] === link.href.split('?')[0]), admin.page.click(`table.releases tbody tr:nth-child(${i + 1}) .name-cell a`)]);
            const seen = await read(admin.page);
            seen.overflow = await overflow(admin.page);
            if (lang === 'en') seen.axe = await axe(admin.page, axeSource);
            report.screens[`release-${i}-${lang}`] = seen;
            await shoot(admin.page, opts, `release-${i}-${lang}`, report.shots);
          }
        }
        // The other project has no events: the empty states.
        for (const [name, path] of [['performance', '/performance?lang=en'], ['releases', '/releases?lang=en']]) {
          await admin.page.goto(`${root(opts['other-project'])}${path}`);
          report[`empty_${name}`] = await read(admin.page);
          await shoot(admin.page, opts, `empty-${name}-en`, report.shots);
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
          ['phone-releases-en', '/releases?lang=en'],
          ['phone-releases-zh', '/releases?lang=zh'],
          ['phone-issues-new-zh', '/issues?status=new&lang=zh'],
        ]) {
          await phone.page.goto(`${root(opts.project)}${path}`);
          const seen = await read(phone.page);
          seen.overflow = await overflow(phone.page);
          report.screens[name] = seen;
          await shoot(phone.page, opts, name, report.shots);
        }
        for (const lang of ['en', 'zh']) {
          await phone.page.goto(`${root(opts.project)}/releases?lang=${lang}`);
          await Promise.all([phone.page.waitForURL(/\/releases\/[^?]/), phone.page.click('table.releases tbody tr:first-child .name-cell a')]);
          const seen = await read(phone.page);
          seen.overflow = await overflow(phone.page);
          report.screens[`phone-release-0-${lang}`] = seen;
          await shoot(phone.page, opts, `phone-release-0-${lang}`, report.shots);
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
        const release = await member.page.goto(`${root(opts['other-project'])}/releases/shop%402.0.0`);
        report.member_other_release_status = release.status();
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
