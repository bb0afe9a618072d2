// The script-tag build: `window.frontmon`, every capture included (each switched by its option).
import type { Options } from './types';
import * as m from './index';

const all = [m.errors, m.resources, m.api, m.clicks, m.pageviews, m.sessions, m.whiteScreen, m.vitals];

(window as any).frontmon = {
  ...m,
  init: (o: Options) => m.init({ ...o, plugins: all.concat((o && o.plugins) || []) }),
};
