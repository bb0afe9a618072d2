// White (blank) screens: after load and after every route change, points across the viewport
// are sampled with elementsFromPoint; a point whose top element is only a wrapper (html, body,
// a configured root) is empty. Only when at least 90 % are empty on every one of the checks
// (a late render gets its chance) is a white screen reported, once per page or route.
import type { Hub, Options, Plugin } from '../types';
import { later } from '../setup';
import { safe } from '../util';

const EMPTY_RATIO = 0.9;

export const whiteScreen: Plugin = (hub) => {
  const cfg = hub.o.whiteScreen;
  // In the setup: the first check waits for the page's load anyway.
  if (cfg !== false) later(() => watch(hub, cfg));
};

function watch(hub: Hub, cfg: Exclude<Options['whiteScreen'], false>) {
  const roots = ['html', 'body'].concat((cfg && cfg.roots) || ['#app', '#root']);
  const checks = (cfg && cfg.retries) || 3;
  const every = (cfg && cfg.intervalMs) || 1000;
  let run = 0;

  const emptyRatio = () => {
    let empty = 0;
    const w = innerWidth;
    const h = innerHeight;
    // Nine points on the middle row and nine on the middle column.
    for (let i = 1; i < 10; i++) {
      for (const [x, y] of [[(w * i) / 10, h / 2], [w / 2, (h * i) / 10]]) {
        const top = document.elementsFromPoint(x, y)[0];
        if (!top || roots.some((r) => top.matches(r))) empty++;
      }
    }
    return empty / 18;
  };
  const check = safe((id: number, left: number) => {
    if (id !== run) return;
    const ratio = emptyRatio();
    if (ratio < EMPTY_RATIO) return;
    if (left > 1) setTimeout(() => check(id, left - 1), every);
    else hub.capture({ type: 'white_screen', empty_ratio: ratio, points: 18 });
  });
  const start = () => {
    const id = ++run;
    setTimeout(() => check(id, checks), (cfg && cfg.delayMs) || 1000);
  };
  if (document.readyState === 'complete') start();
  else addEventListener('load', start);
  hub.onRoute(start);
}
