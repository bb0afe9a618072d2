// Initialises the SDK the way a site would, from the settings the driver serves as /config.js.
(function initSentry() {
  const config = window.FRONTMON;
  const options = { dsn: config.dsn, environment: 'test' };
  if (config.release) {
    options.release = config.release;
  }
  if (config.sendDefaultPii) {
    // 8.x to 10.x read sendDefaultPii; 11.x reads dataCollection (whose userInfo is on by default).
    options.sendDefaultPii = true;
    options.dataCollection = { userInfo: true };
  }
  if (config.tracing) {
    options.integrations = [Sentry.browserTracingIntegration()];
    options.tracesSampleRate = 1;
  }
  if (config.tracing === 'static') {
    // 11.x streams spans (`span` items) by default; this asks it for `transaction` items, as
    // 8.x to 10.x always send (they ignore the option).
    options.traceLifecycle = 'static';
  }
  Sentry.init(options);

  // Root spans that ended, so the tracing scenario can wait for the pageload transaction even if
  // it ended before the scenario started.
  window.FRONTMON_ENDED_ROOT_SPANS = [];
  const client = Sentry.getClient();
  if (client && config.tracing) {
    client.on('spanEnd', function onSpanEnd(span) {
      if (Sentry.getRootSpan(span) === span) {
        // 8.x has `op`; 11.x keeps it only as the `sentry.op` attribute.
        const json = Sentry.spanToJSON(span);
        const op = json.op || (json.attributes || json.data || {})['sentry.op'];
        window.FRONTMON_ENDED_ROOT_SPANS.push(op);
        window.dispatchEvent(new Event('frontmon:rootspanend'));
      }
    });
  }

  Sentry.setUser({ id: 'user-1', email: 'u1@example.com' });
  Sentry.setTag('checkout', 'v2');
})();
