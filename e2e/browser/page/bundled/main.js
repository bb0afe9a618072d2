// The site's own script in the `bundled-sdk` scenario: the driver bundles it with
// `@sentry/browser` (the chosen version, aliased) into ONE minified file, as a site's build
// does, so the SDK's wrappers around timers and listeners get minified names too.
import * as Sentry from '@sentry/browser';

import { sentryOptions } from './harness.js';
import { settings } from './settings.js';

const config = window.FRONTMON;
Sentry.init(
  sentryOptions(Sentry, { dsn: config.dsn, release: config.release, environment: 'test' }),
);
Sentry.setUser({ id: 'user-1', email: 'u1@example.com' });
Sentry.setTag('checkout', 'v2');

// Four errors from four places, one per button; every function but `loadSettings` is
// anonymous.
const on = (id, handler) => document.getElementById(id).addEventListener('click', handler);

// (b) a rejection nobody handles.
on('confirm', () => {
  Promise.reject(new Error('bundled rejection: the payment was declined'));
});

// (a) uncaught in a timer's arrow function.
on('refresh', () => {
  setTimeout(() => {
    throw new Error('bundled uncaught: the cart timer failed');
  });
});

// (c) thrown by the click handler itself.
on('pay', () => {
  throw new Error('bundled click handler: the pay button failed');
});

// (d) JSON.parse fails in a named function.
on('settings', () => settings.loadSettings());
