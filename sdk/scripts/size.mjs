#!/usr/bin/env node
// The size budget, measured as a site pays it: minified (esbuild, ES2019) and gzipped (level 9).
//   core: everything but web vitals (errors, rejections, resources, API, white screen, page
//         views, sessions, clicks, breadcrumbs, transport) ≤ 6 KB (6,000 bytes)
//   all:  dist/frontmon.min.js, the core with web-vitals' attribution build ≤ 12 KB
//   tree shaking: a site that imports only `errors` from dist/index.mjs gets no other capture
// Prints the sizes; exit 1 when one is over budget or the module does not shake.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

import * as esbuild from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUDGETS = { core: 6000, all: 12000 };

async function gzipped(contents) {
  const result = await esbuild.build({
    stdin: { contents, resolveDir: ROOT, loader: 'ts', sourcefile: 'size-entry.ts' },
    absWorkingDir: ROOT,
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2019',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
  });
  const min = result.outputFiles[0].contents;
  return { min: min.length, gz: zlib.gzipSync(min, { level: 9 }).length };
}

const CORE = ['errors', 'resources', 'api', 'clicks', 'pageviews', 'sessions', 'whiteScreen'];
const API = ['captureException', 'captureMessage', 'setUser', 'setTag', 'addBreadcrumb', 'track', 'flush'];
const entry = (plugins) => `import * as m from './src/index';
window.frontmon = { ${API.map((f) => `${f}: m.${f}`).join(', ')},
  init: (o) => m.init({ ...o, plugins: [${plugins.map((p) => `m.${p}`).join(', ')}] }) };`;

// Without `vitals` referenced, the bundler drops web-vitals: the core alone.
const sizes = {
  core: await gzipped(entry(CORE)),
  all: await gzipped(entry([...CORE, 'vitals'])),
};
// What a site's bundler makes of the ES module when only errors are imported.
const shaken = await esbuild.build({
  stdin: {
    contents: "import { init, errors } from './dist/index.mjs'; init({ dsn: 'x', plugins: [errors] });",
    resolveDir: ROOT,
    sourcefile: 'shake-entry.js',
  },
  absWorkingDir: ROOT,
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2019',
  platform: 'browser',
  write: false,
  logLevel: 'silent',
});
const errorsOnly = shaken.outputFiles[0].text;
// A trace of each other capture: white screen, API, clicks, resources, vitals.
const leaked = ['elementsFromPoint', 'XMLHttpRequest', '[role=button]', 'currentSrc', 'largestShiftTarget'].filter(
  (trace) => errorsOnly.includes(trace),
);
sizes['errors only (module)'] = { min: errorsOnly.length, gz: zlib.gzipSync(errorsOnly, { level: 9 }).length };
let over = leaked.length > 0;
if (over) process.stdout.write(`sdk: importing only errors still bundles ${leaked.join(', ')}\n`);
for (const [name, { min, gz }] of Object.entries(sizes)) {
  const fits = gz <= (BUDGETS[name] ?? Infinity);
  over ||= !fits;
  process.stdout.write(
    `sdk size ${name} ${(gz / 1000).toFixed(2)} KB min+gzip (${(min / 1000).toFixed(1)} KB min)` +
      (BUDGETS[name] ? `, budget ${BUDGETS[name] / 1000} KB${fits ? '' : '  OVER BUDGET'}` : '') + '\n',
  );
}
process.exit(over ? 1 : 0);
