#!/usr/bin/env node
// Drives frontmon's Alerts screen in headless Chromium.
//
//   node e2e/browser/dashboard-alerts.mjs --base URL --admin EMAIL --member EMAIL
//        --password PW --project N --other-project N --channel NAME --shots DIR
//        [--timeout SECONDS] [--chromium PATH]
//
// As the admin: opens the Alerts screen in English and 简体中文 (axe-core on each, and on a
// 390 px phone, where the layout must hold), reads every notification row (project, issue,
// its link, channel, outcome, attempts), the channels and the rules; presses "send a test"
// for --channel and reads what the page says came of it; follows a row's link to the issue's
// page. As the member: reads the same screen (their projects only, no test button) and is
// sent to the other project's alerts. Screenshots go to DIR.
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
      channel: { type: 'string' },
      shots: { type: 'string' },
      timeout: { type: 'string', default: '120' },
      chromium: { type: 'string', default: process.env.FRONTMON_CHROMIUM || '/usr/bin/chromium' },
    },
    strict: true,
  });
  for (const key of ['base', 'admin', 'member', 'password', 'project', 'other-project', 'channel', 'shots']) {
    if (!values[key]) throw new Error(`--${key} is required`);
  }
  return { ...values, timeoutMs: Number(values.timeout) * 1000 };
}

// What the screen shows.
function read(page) {
  return page.evaluate(() => {
    const text = (el) => (el ? el.textContent.trim() : null);
    return {
      h1: text(document.querySelector('h1')),
      lang: document.documentElement.lang,
      rows: [...document.querySelectorAll('#alerts tbody tr')].map((tr) => {
        const link = tr.children[2].querySelector('a');
        return {
          project: text(tr.children[1]),
          issue: text(tr.children[2]),
          link: link ? link.getAttribute('href') : null,
          channel: tr.getAttribute('data-channel'),
          status: tr.getAttribute('data-status'),
          outcome: text(tr.children[5]),
          attempts: text(tr.children[6]),
        };
      }),
      empty: text(document.getElementById('alerts-empty')),
      channels: [...document.querySelectorAll('#channels tbody tr')].map((tr) => text(tr.children[0])),
      test_buttons: document.querySelectorAll('#channels button').length,
      rules: [...document.querySelectorAll('#rules tbody tr')].map((tr) => text(tr.children[0])),
      pwned: window.__pwned === true,
    };
  });
}

async function run(opts) {
  mkdirSync(opts.shots, { recursive: true });
  const axeSource = await readFile(AXE, 'utf8');
  const browser = await launchChromium(opts.chromium);
  const report = { screens: {}, shots: [] };
  const alerts = `${opts.base}/alerts`;
  try {
    await withTimeout(
      (async () => {
        const admin = await watchedPage(browser, opts, DESKTOP);
        await signIn(admin.page, opts, opts.admin);
        // From the header's link, as a person would.
        await Promise.all([admin.page.waitForURL(/\/alerts$/), admin.page.click('header a[href="/alerts"]')]);
        for (const lang of ['en', 'zh']) {
          await admin.page.goto(`${alerts}?lang=${lang}`);
          const seen = await read(admin.page);
          seen.overflow = await overflow(admin.page);
          seen.axe = await axe(admin.page, axeSource);
          report.screens[`alerts-${lang}`] = seen;
          await shoot(admin.page, opts, `alerts-${lang}`, report.shots);
        }
        // One project's, through the filter.
        await admin.page.goto(`${alerts}?lang=en`);
        await admin.page.selectOption('#alert-project', opts.project);
        await Promise.all([admin.page.waitForURL(/project=/), admin.page.click('form[action="/alerts"] button[type=submit]')]);
        report.screens['alerts-filtered-en'] = await read(admin.page);

        // Send a test: the page says how it went.
        await admin.page.goto(`${alerts}?lang=en`);
        await admin.page.click(`form[action="/alerts/channels/${encodeURIComponent(opts.channel)}/test"] button`);
        await admin.page.waitForSelector('#test-result');
        report.test = await admin.page.evaluate(() => {
          const result = document.getElementById('test-result');
          return { sent: result.getAttribute('data-sent'), text: result.textContent.trim() };
        });
        // The address bar says /alerts, so a reload reads the screen rather than posting again.
        report.test.path = new URL(admin.page.url()).pathname;
        report.screens['alerts-tested-en'] = await read(admin.page);
        report.screens['alerts-tested-en'].axe = await axe(admin.page, axeSource);
        await shoot(admin.page, opts, 'alerts-tested-en', report.shots);

        // A row's issue link leads to the issue's page.
        await admin.page.goto(`${alerts}?lang=en`);
        const link = admin.page.locator('#alerts tbody a').first();
        if ((await link.count()) > 0) {
          await Promise.all([admin.page.waitForURL(/\/issues\/\d+/), link.click()]);
          report.followed = { path: new URL(admin.page.url()).pathname, h1: await admin.page.evaluate(() => document.querySelector('h1').textContent.trim()) };
        }
        report.admin_seen = admin.seen;
        await admin.context.close();

        const phone = await watchedPage(browser, opts, PHONE);
        await signIn(phone.page, opts, opts.admin);
        for (const lang of ['en', 'zh']) {
          await phone.page.goto(`${alerts}?lang=${lang}`);
          const seen = await read(phone.page);
          seen.overflow = await overflow(phone.page);
          report.screens[`phone-alerts-${lang}`] = seen;
          await shoot(phone.page, opts, `phone-alerts-${lang}`, report.shots);
        }
        await phone.context.close();

        const member = await watchedPage(browser, opts, DESKTOP);
        await signIn(member.page, opts, opts.member);
        const own = await member.page.goto(`${alerts}?lang=en`);
        report.member = { status: own.status(), ...(await read(member.page)) };
        await shoot(member.page, opts, 'member-alerts-en', report.shots);
        const other = await member.page.goto(`${alerts}?project=${opts['other-project']}`);
        report.member.other_status = other.status();
        report.member_seen = member.seen;
        await member.context.close();
      })(),
      opts.timeoutMs,
      'the Alerts screen',
    );
  } finally {
    await browser.close();
  }
  return report;
}

main({ name: 'dashboard-alerts.mjs', parseCli, run, graceMs: 10_000 });
