// A page view on load and on every SPA route change, with the referrer (the URL left).
import type { Plugin } from '../types';
import { later } from '../setup';
import { safe } from '../util';

export const pageviews: Plugin = (hub) => {
  if (hub.o.pageviews === false) return;
  // In the setup, like everything that reads storage (the session); route changes are
  // followed from there too.
  later(() => {
    hub.capture({ type: 'pageview', referrer: document.referrer, title: document.title });
    // After the router's own code of this turn, which usually sets the title.
    hub.onRoute((from) => {
      const url = location.href;
      const route = hub.route();
      setTimeout(safe(() => hub.capture({ type: 'pageview', referrer: from, title: document.title, url, route })));
    });
  });
};
