// Clicks: always a breadcrumb, an event with `clicks: true`. The selector and a short text of
// what was clicked; never what was typed (inputs and editable content give no text).
import type { Plugin } from '../types';
import { safe, selector } from '../util';

export const clicks: Plugin = (hub) => {
  document.addEventListener(
    'click',
    safe((ev: Event) => {
      const el = ev.target as HTMLElement;
      if (!el || el.nodeType !== 1) return;
      const sel = selector(el);
      const typed = /^(input|textarea|select)$/i.test(el.tagName) || el.isContentEditable;
      const text = typed ? undefined : (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 60) || undefined;
      hub.crumb({ category: 'click', message: sel, data: text ? { text } : undefined });
      if (hub.o.clicks) hub.capture({ type: 'click', selector: sel, text });
    }),
    true,
  );
};
