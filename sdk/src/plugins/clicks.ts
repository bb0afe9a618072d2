// Clicks: always a breadcrumb, an event with `clicks: true`. The control clicked (the nearest
// link, button or label around the target), as a selector and a short text; never what was
// typed: inputs and editable content give no text, and nothing else is read.
import type { Hub, Plugin } from '../types';
import { later } from '../setup';
import { safe, selector } from '../util';

const CONTROL = 'a,button,[role=button],[role=link],[role=tab],[role=menuitem],summary,label';

// From the setup's first parts, not from init: a click needs a page the user can see, which
// the browser paints after init's task, and in the test of the earliest click
// (`browser_sdk::every_capture_is_stored_with_its_fields`, `early`) after that part.
export const clicks: Plugin = (hub) =>
  later(() => listen(hub));

function listen(hub: Hub) {
  document.addEventListener(
    'click',
    safe((ev: Event) => {
      const target = ev.target as HTMLElement;
      if (!target || target.nodeType !== 1) return;
      // A field is itself what was clicked (and gives no text); otherwise only a control's own
      // text is read: a click on a big container reads nothing.
      const typed = /^(input|textarea|select)$/i.test(target.tagName) || target.isContentEditable;
      const control = typed ? null : (target.closest(CONTROL) as HTMLElement | null);
      const el = control || target;
      const sel = selector(el);
      const text = control ? (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 60) || undefined : undefined;
      hub.crumb({ category: 'click', message: sel, data: text ? { text } : undefined });
      if (hub.o.clicks) hub.capture({ type: 'click', selector: sel, text });
    }),
    true,
  );
}
