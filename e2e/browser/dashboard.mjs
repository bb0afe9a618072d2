#!/usr/bin/env node
// Drives frontmon's dashboard (served by the processor) in headless Chromium, as a person would.
//
//   node e2e/browser/dashboard.mjs --base URL --admin EMAIL --member EMAIL --password PW
//        --project N --issue ID --injection ID --sourced ID --other-project N --shots DIR
//        [--timeout SECONDS] [--chromium PATH]
//
// As the admin: signs in through the form, finds issue ID in the project's Unresolved list,
// opens it, resolves it, sees it leave the list and appear under Resolved; reads the source
// lines of issue --sourced's frame; switches to 简体中文;
// opens the injection issue (every field of its event hostile) on a desktop and a phone
// viewport, watching for any dialog, any script the event could have run, any request leaving
// the page's origin, and the page growing wider than the viewport; runs axe-core on every
// screen; signs out. As the member: signs in, sees only their project, and is shown the 404
// page for the other. Screenshots of every screen, in both languages and on a phone, go to DIR.
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
      issue: { type: 'string' },
      injection: { type: 'string' },
      sourced: { type: 'string' },
      shots: { type: 'string' },
      timeout: { type: 'string', default: '120' },
      chromium: { type: 'string', default: process.env.FRONTMON_CHROMIUM || '/usr/bin/chromium' },
    },
    strict: true,
  });
  for (const key of ['base', 'admin', 'member', 'password', 'project', 'other-project', 'issue', 'injection', 'sourced', 'shots']) {
    if (!values[key]) throw new Error(`--${key} is required`);
  }
  return { ...values, timeoutMs: Number(values.timeout) * 1000 };
}

async function run(opts) {
  mkdirSync(opts.shots, { recursive: true });
  const axeSource = await readFile(AXE, 'utf8');
  const browser = await launchChromium(opts.chromium);
  const report = { screens: {}, shots: [] };
  try {
    await withTimeout(
      (async () => {
        const { project, issue, injection } = opts;
        const list = `${opts.base}/projects/${project}/issues`;
        const admin = await watchedPage(browser, opts, DESKTOP);
        const page = admin.page;
        const screen = async (name, extra = {}) => {
          report.screens[name] = {
            url: page.url(),
            lang: await page.evaluate(() => document.documentElement.lang),
            overflow: await overflow(page),
            axe: await axe(page, axeSource),
            ...extra,
          };
          await shoot(page, opts, name, report.shots);
        };

        await signIn(page, opts, opts.admin);
        await screen('projects-en');
        await page.goto(list);
        const row = page.locator(`a[href="/projects/${project}/issues/${issue}"]`);
        report.listed_before = await row.count();
        report.html_headers = await page.evaluate(async () => {
          const r = await fetch(location.href);
          return { csp: r.headers.get('content-security-policy'), nosniff: r.headers.get('x-content-type-options') };
        });
        await screen('issues-en');
        // Sorting and the tabs are links; following one keeps the issue listed.
        await Promise.all([page.waitForURL(/sort=events/), page.click('.sorts a[href*="sort=events"]')]);
        report.listed_sorted = await page.locator(`a[href="/projects/${project}/issues/${issue}"]`).count();

        await page.goto(list);
        await Promise.all([page.waitForURL(new RegExp(`/issues/${issue}$`)), row.first().click()]);
        report.detail_title = await page.locator('h1.issue-title').innerText();
        report.detail_frames = await page.locator('.frame').count();
        await screen('issue-en');
        await page.click('button[name=status][value=resolved]');
        await page.waitForSelector('.facts dd.status-resolved');
        report.detail_status_after = await page.locator('.facts dd.status-resolved').count();
        await page.goto(list);
        report.listed_after = await page.locator(`a[href="/projects/${project}/issues/${issue}"]`).count();
        await page.goto(`${list}?status=resolved`);
        report.listed_resolved = await page.locator(`a[href="/projects/${project}/issues/${issue}"]`).count();
        await screen('issues-resolved-en');

        await page.goto(`${list}/${opts.sourced}`);
        report.sourced_line = await page.locator('.source .current').first().innerText();
        report.sourced_context_lines = await page.locator('.source > span').count();
        await screen('issue-sourced-en');

        // 简体中文, by the switch; remembered on the next page.
        await page.goto(list);
        await Promise.all([page.waitForURL(/lang=zh/), page.click('a.lang')]);
        await page.goto(list);
        report.zh_tab = await page.locator('.status-tabs a[aria-current]').innerText();
        await screen('issues-zh');
        await page.goto(`${list}/${issue}`);
        await screen('issue-zh');
        await page.goto(`${opts.base}/projects`);
        await screen('projects-zh');
        await page.goto(`${opts.base}/account/password`);
        await screen('password-zh');
        await page.goto(`${opts.base}/account/tokens`);
        await page.fill('input[name=name]', 'ci');
        await page.click('form.toolbar button[type=submit]');
        await page.waitForSelector('#new-token');
        await screen('tokens-zh');
        await page.goto(`${opts.base}/projects/${project}/settings`);
        await screen('settings-zh');
        await page.goto(`${list}?lang=en`);

        // The injection corpus: nothing runs, nothing leaves, the layout holds.
        const before = admin.seen.requests.length;
        await page.goto(`${list}/${injection}`);
        await page.locator('details.raw').evaluate((d) => { d.open = true; });
        await page.locator('details.frame').evaluateAll((ds) => ds.forEach((d) => { d.open = true; }));
        report.injection = {
          pwned: await page.evaluate(() => window.__pwned === true || document.querySelectorAll('img[src="x"], iframe, object, embed, main script').length),
          links_to_javascript: await page.evaluate(() => [...document.querySelectorAll('a[href]')].filter((a) => a.protocol === 'javascript:').length),
          title_text: await page.locator('h1.issue-title').innerText(),
        };
        await screen('injection-en', { requests: admin.seen.requests.length - before });
        await page.goto(`${list}/${injection}?lang=zh`);
        await screen('injection-zh');
        await page.goto(`${list}?lang=en`);
        await screen('issues-injection-en');

        // A phone.
        const phone = await watchedPage(browser, opts, PHONE);
        await signIn(phone.page, opts, opts.admin);
        for (const [name, url] of [
          ['phone-issues-en', list],
          ['phone-issue-en', `${list}/${issue}`],
          ['phone-injection-en', `${list}/${injection}`],
          ['phone-issues-zh', `${list}?lang=zh`],
          ['phone-issue-zh', `${list}/${issue}`],
          ['phone-settings-zh', `${opts.base}/projects/${project}/settings`],
        ]) {
          await phone.page.goto(url);
          report.screens[name] = { overflow: await overflow(phone.page) };
          await shoot(phone.page, opts, name, report.shots);
        }
        await phone.context.close();

        // Signing out ends the session: the list leads to the sign-in page again.
        await Promise.all([page.waitForURL(/\/login$/), page.click('header form button[type=submit]')]);
        await screen('login-en');
        await page.goto(list);
        report.after_logout = new URL(page.url()).pathname;
        report.admin_seen = admin.seen;
        await admin.context.close();

        // The member: their project only.
        const member = await watchedPage(browser, opts, DESKTOP);
        await signIn(member.page, opts, opts.member);
        report.member_projects = await member.page.locator('table.list tbody tr').count();
        const refused = await member.page.goto(`${opts.base}/projects/${opts['other-project']}/issues`);
        report.member_other_status = refused.status();
        report.member_own_status = (await member.page.goto(`${opts.base}/projects/${project}/issues`)).status();
        await shoot(member.page, opts, 'member-issues-en', report.shots);
        report.member_seen = member.seen;
        await member.context.close();
      })(),
      opts.timeoutMs,
      'the dashboard scenario',
    );
  } finally {
    await browser.close();
  }
  return report;
}

main({ name: 'dashboard.mjs', parseCli, run, graceMs: 10_000 });
