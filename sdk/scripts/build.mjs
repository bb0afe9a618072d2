#!/usr/bin/env node
// Builds the SDK with the pinned esbuild (package-lock.json):
//   dist/index.mjs            the ES module (not minified: the site's bundler minifies and
//                             drops the plugins it does not import)
//   dist/frontmon.min.js      the script-tag bundle (IIFE, window.frontmon, every capture)
//   dist/frontmon.min.js.gz   and .br: the same, compressed at the highest level, so the
//                             collector serves them as they are
//
//   node scripts/build.mjs [--out DIR]   build into DIR (dist/ by default)
//   node scripts/build.mjs --check       build into a temporary directory and fail (exit 1)
//                                        when dist/ differs from it: dist/ is committed, so
//                                        that `cargo build` never needs node
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

import * as esbuild from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FILES = ['index.mjs', 'frontmon.min.js', 'frontmon.min.js.gz', 'frontmon.min.js.br'];
const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8'));

const common = {
  bundle: true,
  target: 'es2019',
  platform: 'browser',
  write: false,
  logLevel: 'silent',
  legalComments: 'none',
  absWorkingDir: ROOT,
};

export async function build(out) {
  await mkdir(out, { recursive: true });
  const esm = await esbuild.build({
    ...common,
    entryPoints: ['src/index.ts'],
    format: 'esm',
    // web-vitals stays an import of the package: the site's bundler resolves it once.
    external: ['web-vitals', 'web-vitals/*'],
  });
  const iife = await esbuild.build({
    ...common,
    entryPoints: ['src/iife.ts'],
    format: 'iife',
    minify: true,
    // `allFunctionsCalledOnLoad` (V8's explicit compile hint, Chromium 136+; a comment to other
    // engines) has every function compiled with the script, off the main thread while it streams
    // in, instead of on the main thread at its first call: most of a cold `init` was that.
    banner: { js: `//# allFunctionsCalledOnLoad\n/*! @frontmon/browser ${pkg.version} | MIT | web-vitals: Apache-2.0, Google LLC */` },
  });
  const min = Buffer.from(iife.outputFiles[0].contents);
  // gzip's header carries no name and a zero mtime from node's zlib: the bytes depend only
  // on the input, so a fresh build compares equal to the committed one.
  const gz = zlib.gzipSync(min, { level: 9 });
  const br = zlib.brotliCompressSync(min, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: min.length },
  });
  const outputs = [esm.outputFiles[0].contents, min, gz, br];
  await Promise.all(FILES.map((name, i) => writeFile(path.join(out, name), outputs[i])));
  return out;
}

async function check() {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'frontmon-sdk-'));
  try {
    await build(tmp);
    const stale = [];
    for (const name of FILES) {
      const fresh = await readFile(path.join(tmp, name));
      const committed = await readFile(path.join(ROOT, 'dist', name)).catch(() => null);
      if (!committed || !fresh.equals(committed)) stale.push(`dist/${name}`);
    }
    if (stale.length) {
      process.stderr.write(
        `sdk: ${stale.join(', ')} differ from a fresh build of sdk/src: run \`npm run build\` in sdk/ and commit dist/\n`,
      );
      // Not process.exit: the temporary build is removed first.
      process.exitCode = 1;
      return;
    }
    process.stdout.write('sdk: dist/ matches a fresh build\n');
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === '--check' && args.length === 1) await check();
  else if (args[0] === '--out' && args.length === 2) await build(path.resolve(args[1]));
  else if (args.length === 0) await build(path.join(ROOT, 'dist'));
  else {
    process.stderr.write('usage: node scripts/build.mjs [--out DIR | --check]\n');
    process.exit(2);
  }
}
