// What the dashboard's browser drivers share: a watched page, signing in, axe-core, the
// layout check and screenshots.

import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const AXE = path.join(HERE, 'node_modules/axe-core/axe.min.js');
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

// A page of its own context, watched: every request (and whether it left the origin), every
// dialog, every CSP violation the page reports, every uncaught error.
export async function watchedPage(browser, opts, viewport) {
  const context = await browser.newContext({ viewport, locale: 'en-US' });
  const page = await context.newPage();
  const seen = { requests: [], foreign: [], dialogs: [], errors: [] };
  const origin = new URL(opts.base).origin;
  page.on('request', (request) => {
    const url = request.url();
    seen.requests.push(url);
    if (!url.startsWith(origin + '/') && !url.startsWith('data:')) seen.foreign.push(url);
  });
  page.on('dialog', async (dialog) => {
    seen.dialogs.push(dialog.message());
    await dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => seen.errors.push(String(error)));
  return { context, page, seen };
}

export async function signIn(page, opts, email) {
  await page.goto(`${opts.base}/projects`);
  await page.waitForURL(/\/login/);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', opts.password);
  await Promise.all([page.waitForURL(/\/projects$/), page.click('button[type=submit]')]);
}

// axe-core's serious and critical violations on the page as it is.
export async function axe(page, source) {
  await page.evaluate(source);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return result;
}

// How far the page is wider than its viewport (0: the layout holds).
export function overflow(page) {
  return page.evaluate(() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth));
}

export async function shoot(page, opts, name, shots) {
  const file = path.join(opts.shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(file);
}

