// A tiny React app (bundled by own-sdk.mjs with the pinned esbuild, React's production build):
// a component throws while rendering inside an error boundary (sdk/README.md's, pasted as is),
// and a click handler throws (boundaries do not see those: the SDK's onerror does).
import React from 'react';
import { createRoot } from 'react-dom/client';

// sdk/README.md, "React":
class ErrorBoundary extends React.Component {
  state = { failed: false };
  static getDerivedStateFromError() { return { failed: true }; }
  componentDidCatch(error, info) {
    frontmon.captureException(error, { mechanism: "react", extra: { componentStack: info.componentStack } });
  }
  render() { return this.state.failed ? this.props.fallback : this.props.children; }
}
// (end of the snippet)

const e = React.createElement;

function CartTotal() {
  throw new Error('react: cart total failed to render');
}

function PayButton() {
  const pay = () => {
    throw new Error('react: pay handler failed');
  };
  return e('button', { id: 'pay-react', type: 'button', onClick: pay }, 'Pay');
}

function App() {
  return e(
    'main',
    null,
    e('h1', null, 'React shop'),
    e(ErrorBoundary, { fallback: e('p', { id: 'fallback' }, 'The cart is unavailable.') }, e(CartTotal)),
    e(PayButton),
  );
}

// React reports errors a boundary caught to onCaughtError (console.error by default): the
// app's own handling, which must still run.
const appErrors = [];
const rendered = new Promise((resolve) => {
  createRoot(document.getElementById('root'), {
    onCaughtError(error) {
      appErrors.push(error.message);
      setTimeout(resolve);
    },
  }).render(e(App));
});

window.runScenario = async function () {
  await rendered;
  const thrown = new Promise((resolve) => addEventListener('error', () => setTimeout(resolve), { once: true }));
  document.getElementById('pay-react').click();
  await thrown;
  return {
    appErrors,
    status: document.getElementById('fallback') && document.getElementById('fallback').textContent,
    heading: document.querySelector('h1') && document.querySelector('h1').textContent,
  };
};
