// Failed <script>, <link>, <img>, <video>, <audio>, <source> loads: their `error` event does
// not bubble, so it is caught on the way down (capture phase) at the window.
import type { Plugin } from '../types';
import { safe, scrub, selector } from '../util';

export const resources: Plugin = (hub) => {
  const seen: Record<string, 1> = {};
  addEventListener(
    'error',
    safe((ev: Event) => {
      const el = ev.target as any;
      if (!el || !el.tagName || ev instanceof ErrorEvent) return;
      const tag = el.tagName.toLowerCase();
      const target = el.currentSrc || el.src || el.href;
      if (!target || typeof target !== 'string' || target === location.href || seen[tag + target]) return;
      seen[tag + target] = 1;
      hub.capture({ type: 'resource_error', target: scrub(target), tag_name: tag, selector: selector(el) });
    }),
    true,
  );
};
