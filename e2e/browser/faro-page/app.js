// The shop page of the Faro scenarios: the SDK initialised as its documentation shows, with the
// default web instrumentations (errors, web vitals, sessions, views, navigation, performance,
// console), pointed at the driver's URL and key. "Pay" runs the scenario.
(function () {
  const config = window.FARO_E2E;
  const { initializeFaro, getWebInstrumentations } = window.FaroSdk;

  const faro = initializeFaro({
    url: config.url,
    apiKey: config.key,
    app: { name: 'shop', version: config.release || undefined, environment: 'test' },
    user: { id: 'user-1', email: 'u1@example.com' },
    instrumentations: getWebInstrumentations(),
  });

  // --spa: the router names the first view, as a router integration does on its first render.
  if (config.spa) faro.api.setView({ name: 'home' });

  function renderCart(cart) {
    return cart.items.length;
  }

  function onCartTimer() {
    renderCart(undefined);
  }

  // A route change in the page: the address and the DOM change after a click, which the
  // SDK's navigation instrumentation reports as `faro.navigation`.
  function goToConfirmation() {
    history.pushState({}, '', '/checkout/done');
    const done = document.createElement('p');
    done.id = 'done';
    done.textContent = 'Thank you for your order.';
    document.getElementById('content').appendChild(done);
  }

  // The SPA's router (--spa): a click on a link changes the address (pushState), the view
  // (faro.api.setView) and what is shown. The SDK reports the view as `view_changed` (and
  // would report the address as `faro.navigation`, which Faro 2.12.1 did not in Chromium).
  function route(name) {
    history.pushState({}, '', '/spa/' + name);
    faro.api.setView({ name: name });
    const view = document.createElement('p');
    view.className = 'view';
    view.textContent = 'The ' + name + ' view.';
    document.getElementById('content').appendChild(view);
  }

  // Simulates the page becoming hidden: web-vitals then reports LCP, CLS and INP, and the SDK
  // sends what it has batched.
  function simulatePageHidden() {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
    delete document.visibilityState;
  }

  window.faroScenario = {
    // The uncaught error, a log, a custom measurement and event, a route change. The driver
    // makes the page hidden once the SDK has sent them.
    all() {
      setTimeout(onCartTimer);
      faro.api.pushLog(['cache warmed'], { level: 'info' });
      faro.api.pushMeasurement({ type: 'cart', values: { items: 3, total: 42.5 } });
      faro.api.pushEvent('checkout_started', { step: 'payment' });
      goToConfirmation();
    },
    hidden: simulatePageHidden,
  };

  document.addEventListener('DOMContentLoaded', function onReady() {
    document.getElementById('pay').addEventListener('click', function onPayClick() {
      window.faroScenario.all();
    });
    document.querySelectorAll('[data-route]').forEach(function (link) {
      link.addEventListener('click', function onRouteClick() {
        route(link.getAttribute('data-route'));
      });
    });
  });
})();
