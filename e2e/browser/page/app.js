// The page's application code: named functions in a file of their own, so the SDK's stack frames
// carry a real file name (http://127.0.0.1:PORT/app.js) and real function names.
//
// The driver clicks #pay; the click runs the scenario named in /config.js and, once the SDK has
// flushed, hands the result to window.frontmonDone (a binding the driver exposes).

// ---- The "shop": functions that fail the way application code does. ----

function renderCart() {
  throw new TypeError('cart is undefined');
}

function scheduleCartRender() {
  setTimeout(function onCartTimer() {
    renderCart();
  });
}

function chargeCard() {
  return Promise.reject(new Error('payment failed 402'));
}

function submitPayment() {
  // Deliberately not awaited or caught: the rejection is unhandled.
  chargeCard();
}

function checkout() {
  throw new Error('checkout failed');
}

function applyCoupon() {
  throw new Error('coupon expired');
}

function syncInventory(n) {
  throw new Error('inventory sync failed ' + n);
}

// ---- Scenarios. ----

const capturedIds = [];

// Sentry.flush, which in 8.x rejects when a request to the DSN failed (a network or CORS error):
// that is a result to report, not a failure of the scenario.
async function flushSdk() {
  try {
    return await Sentry.flush(5000);
  } catch (error) {
    return 'rejected: ' + String(error);
  }
}

// Resolves once `type` was dispatched on window and every listener, the SDK's included, has run.
function afterNext(type) {
  return new Promise(function (resolve) {
    window.addEventListener(type, function () {
      setTimeout(resolve);
    }, { once: true });
  });
}

async function runUncaught() {
  const seen = afterNext('error');
  scheduleCartRender();
  await seen;
  capturedIds.push(Sentry.lastEventId());
}

async function runRejection() {
  const seen = afterNext('unhandledrejection');
  submitPayment();
  await seen;
  capturedIds.push(Sentry.lastEventId());
}

function runCaptureException() {
  try {
    checkout();
  } catch (error) {
    capturedIds.push(Sentry.captureException(error));
  }
}

function runCaptureMessage() {
  capturedIds.push(Sentry.captureMessage('cache warmed', 'info'));
  capturedIds.push(Sentry.captureMessage('quota exceeded', 'error'));
}

function runSameErrorTwice() {
  // Two call sites, so the SDK's dedupe integration (which drops an event whose message and
  // frames, lines included, equal the previous one's) keeps both; the grouping key (file and
  // function names, no lines) is the same for both.
  try {
    applyCoupon();
  } catch (error) {
    capturedIds.push(Sentry.captureException(error));
  }
  try {
    applyCoupon();
  } catch (error) {
    capturedIds.push(Sentry.captureException(error));
  }
}

async function runAll() {
  await runUncaught();
  await runRejection();
  runCaptureException();
  runCaptureMessage();
  runSameErrorTwice();
}

// Resolves once a root span with this op (pageload, navigation) has ended.
function rootSpanEnded(op) {
  return new Promise(function (resolve) {
    function check() {
      if (window.FRONTMON_ENDED_ROOT_SPANS.includes(op)) {
        window.removeEventListener('frontmon:rootspanend', check);
        resolve();
      }
    }
    window.addEventListener('frontmon:rootspanend', check);
    check();
  });
}

async function runTracing() {
  // The pageload transaction ends on its own once the page is idle (the SDK's idle timeout).
  await rootSpanEnded('pageload');
  // A client-side route change: a navigation transaction, ended the same way.
  history.pushState({}, '', '/checkout/done');
  await rootSpanEnded('navigation');
  // The user leaves: what the SDK reports only then (11.x's streamed CLS span) is sent too.
  simulatePageHidden();
}

// Simulates the page becoming hidden, which is when the SDK sends its client reports.
function simulatePageHidden() {
  Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
  document.dispatchEvent(new Event('visibilitychange'));
  delete document.visibilityState;
}

async function runFlood() {
  // Wave 1: all sent before any answer arrives, up to the transport's buffer (8.x 64, 11.x 40).
  for (let i = 1; i <= 50; i++) {
    try {
      syncInventory(i);
    } catch (error) {
      capturedIds.push(Sentry.captureException(error));
    }
  }
  await flushSdk();
  // Wave 2: after the answers; an SDK honouring a 429 drops these without sending them.
  for (let i = 51; i <= 60; i++) {
    try {
      syncInventory(i);
    } catch (error) {
      capturedIds.push(Sentry.captureException(error));
    }
  }
  await flushSdk();
  const client = Sentry.getClient();
  // The SDK's own drop counts ("reason:category" → n), read before they are sent and cleared.
  const outcomes = Object.assign({}, client && client._outcomes);
  simulatePageHidden();
  return { flood: { captured: 60, outcomes: outcomes } };
}

const scenarios = {
  uncaught: runUncaught,
  rejection: runRejection,
  'capture-exception': runCaptureException,
  'capture-message': runCaptureMessage,
  'same-error-twice': runSameErrorTwice,
  all: runAll,
  tracing: runTracing,
  'tracing-static': runTracing,
  flood: runFlood,
};

async function runScenario(name) {
  const run = scenarios[name];
  if (!run) {
    throw new Error('unknown scenario: ' + name);
  }
  const extra = (await run()) || {};
  const flushed = await flushSdk();
  return Object.assign({
    sdk_version: Sentry.SDK_VERSION,
    captured_ids: capturedIds.filter(Boolean),
    flushed: flushed,
  }, extra);
}

document.addEventListener('DOMContentLoaded', function onReady() {
  if (window.FRONTMON.tracing) {
    // Push the content down once it has been painted: a layout shift, so CLS is not zero.
    requestAnimationFrame(function () {
      requestAnimationFrame(function insertBanner() {
        const banner = document.createElement('div');
        banner.textContent = 'Free shipping today';
        banner.style.height = '120px';
        document.body.insertBefore(banner, document.body.firstChild);
      });
    });
  }

  document.getElementById('pay').addEventListener('click', function onPayClick() {
    Sentry.addBreadcrumb({ category: 'ui', message: 'clicked pay' });
    runScenario(window.FRONTMON.scenario).then(window.frontmonDone, function (error) {
      window.frontmonDone({ error: String((error && error.stack) || error) });
    });
  });
});
