// @frontmon/browser as an ES module: the API and one plugin per capture. `init` runs only the
// plugins it is given, so a bundler drops the others.
export { init, captureException, captureMessage, setUser, setTag, addBreadcrumb, track, flush } from './client';
export { errors } from './plugins/errors';
export { resources } from './plugins/resources';
export { api } from './plugins/api';
export { pageviews } from './plugins/pageviews';
export { sessions } from './plugins/sessions';
export { clicks } from './plugins/clicks';
export { whiteScreen } from './plugins/whitescreen';
export { vitals } from './plugins/vitals';
export type { Options, FmEvent, Breadcrumb, Level, Plugin } from './types';
