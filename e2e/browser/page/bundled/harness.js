// The test's hooks in the `bundled-sdk` bundle, not the site's: they record what the SDK is
// about to send, and flush it when the driver asks (window.FRONTMON_BUNDLED).

const sent = [];

// What the site passes to Sentry.init, plus a `beforeSend` that records each error event.
export function sentryOptions(Sentry, options) {
  window.FRONTMON_BUNDLED = {
    sent,
    // Once every error is in `sent`: flush, and what the driver reports.
    async flush() {
      let flushed;
      try {
        flushed = await Sentry.flush(5000);
      } catch (error) {
        flushed = `rejected: ${String(error)}`;
      }
      return {
        sdk_version: Sentry.SDK_VERSION,
        captured_ids: sent.map((e) => e.event_id),
        flushed,
        errors: sent,
      };
    },
  };
  return {
    ...options,
    beforeSend(event) {
      const exceptions = (event.exception && event.exception.values) || [];
      const last = exceptions[exceptions.length - 1] || {};
      const frames = (last.stacktrace && last.stacktrace.frames) || [];
      const innermost = frames[frames.length - 1] || {};
      sent.push({
        event_id: event.event_id,
        type: last.type,
        value: last.value,
        innermost: {
          function: innermost.function,
          filename: innermost.filename,
          lineno: innermost.lineno,
        },
      });
      return event;
    },
  };
}
