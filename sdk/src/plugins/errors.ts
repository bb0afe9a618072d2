// Uncaught errors and unhandled rejections, and console.error as a breadcrumb.
import type { Plugin } from '../types';
import { describe } from '../stack';
import { safe } from '../util';

export const errors: Plugin = (hub) => {
  addEventListener(
    'error',
    safe((ev: Event) => {
      // A failed <script>/<img> is an Event on its element, not an ErrorEvent.
      if (!(ev instanceof ErrorEvent)) return;
      const d = ev.error != null ? describe(ev.error) : { message: ev.message || 'Script error.' } as ReturnType<typeof describe>;
      if (!d.stack && ev.filename) d.stack = `${d.message}\n    at ${ev.filename}:${ev.lineno}:${ev.colno}`;
      hub.capture({ type: 'error', ...d, mechanism: 'onerror' });
    }),
  );
  addEventListener(
    'unhandledrejection',
    safe((ev: PromiseRejectionEvent) => {
      hub.capture({ type: 'error', ...describe(ev.reason), mechanism: 'onunhandledrejection' });
    }),
  );
  const c = console;
  const orig = c.error;
  c.error = function () {
    safe(() => hub.crumb({ category: 'console', level: 'error', message: [].map.call(arguments, String).join(' ').slice(0, 200) }))();
    return orig.apply(this, arguments as any);
  };
};
