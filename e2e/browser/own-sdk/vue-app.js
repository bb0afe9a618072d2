// A tiny Vue 3 app (bundled by own-sdk.mjs with the pinned esbuild, Vue's production build):
// one component throws while rendering, another in a click handler. The app has an error
// handler of its own; frontmon's is sdk/README.md's snippet, pasted as is.
import { createApp, h } from 'vue';

const CartTotal = {
  name: 'CartTotal',
  render() {
    throw new Error('vue: cart total failed to render');
  },
};

const PayButton = {
  name: 'PayButton',
  render() {
    return h('button', { id: 'pay-vue', type: 'button', onClick: this.pay }, 'Pay');
  },
  methods: {
    pay() {
      throw new Error('vue: pay handler failed');
    },
  },
};

const App = {
  name: 'ShopApp',
  render() {
    return h('main', [h('h1', 'Vue shop'), h(CartTotal), h(PayButton), h('p', { id: 'app-status' })]);
  },
};

const app = createApp(App);

// The app's own handler: shows that something failed.
const appErrors = [];
app.config.errorHandler = (err) => {
  appErrors.push(err.message);
  const status = document.getElementById('app-status');
  if (status) status.textContent = 'Something went wrong: ' + err.message;
};

// sdk/README.md, "Vue 3":
const previous = app.config.errorHandler;
app.config.errorHandler = (err, instance, info) => {
  frontmon.captureException(err, {
    mechanism: "vue",
    extra: { info, component: instance && (instance.$options.name || instance.$options.__name) },
  });
  if (previous) previous(err, instance, info);
  else console.error(err);
};
// (end of the snippet)

app.mount('#root');

window.runScenario = async function () {
  document.getElementById('pay-vue').click();
  await new Promise((resolve) => setTimeout(resolve));
  return {
    appErrors,
    status: document.getElementById('app-status').textContent,
    heading: document.querySelector('h1') && document.querySelector('h1').textContent,
  };
};
