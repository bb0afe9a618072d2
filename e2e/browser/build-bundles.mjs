#!/usr/bin/env node
// Builds two minified bundles of the same shop code, with source maps, the way a site's build
// would: the pinned esbuild (package-lock.json), `--bundle --minify --sourcemap --format=iife
// --sources-content`.
//
//   node e2e/browser/build-bundles.mjs OUT_DIR
//
// Build A is processor/tests/fixtures/sourcemaps/src/main.js, build B the same cart code with
// one more function (build-b/src/main.js), so that esbuild gives the functions on the error's
// path other minified names. Written as OUT_DIR/a/app.min.js(.map) and OUT_DIR/b/app.min.js(.map).
//
// Each bundle is then run once in a Node VM with a stand-in `window`: `window.pay()` must throw
// the TypeError the tests expect, and the two builds must name its innermost functions
// differently (otherwise they would prove nothing about grouping). Prints ONE JSON line:
//   {"esbuild": "0.28.2", "builds": {"a": {"dir", "minified", "map", "frames": [...]}, "b": {...}}}
// where `frames` are the minified `function@line:column` of the thrown error, innermost first.
// Exit status 0 when built and checked, 1 otherwise (the reason on stderr), 2 for bad arguments.

import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

import * as esbuild from 'esbuild';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.resolve(HERE, '../../processor/tests/fixtures/sourcemaps');
const BUILDS = {
  a: path.join(FIXTURES, 'src/main.js'),
  b: path.join(FIXTURES, 'build-b/src/main.js'),
};
const EXPECTED_MESSAGE = "Cannot read properties of undefined (reading 'percent')";
// What the frames of the bundle are called in a V8 stack: `at i (app.min.js:1:157)`.
const FRAME = /^\s*at (?:(\S+) \()?app\.min\.js:(\d+):(\d+)\)?$/;

async function build(entry, dir) {
  await mkdir(dir, { recursive: true });
  const outfile = path.join(dir, 'app.min.js');
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    sourcemap: true,
    sourcesContent: true,
    format: 'iife',
    outfile,
    logLevel: 'silent',
  });
  return { dir, minified: outfile, map: `${outfile}.map` };
}

// Runs the bundle and calls window.pay(): the minified frames of what it throws.
async function thrownFrames(minified) {
  const code = await readFile(minified, 'utf8');
  const window = {};
  vm.runInNewContext(code, { window }, { filename: 'app.min.js' });
  let error;
  try {
    window.pay();
  } catch (thrown) {
    error = thrown;
  }
  if (!error) throw new Error(`${minified}: window.pay() did not throw`);
  if (error.name !== 'TypeError' || error.message !== EXPECTED_MESSAGE) {
    throw new Error(`${minified}: window.pay() threw ${error.name}: ${error.message}`);
  }
  return error.stack
    .split('\n')
    .map((line) => FRAME.exec(line))
    .filter(Boolean)
    .map(([, fn, line, column]) => `${fn ?? '?'}@${line}:${column}`);
}

async function main() {
  const [out, ...rest] = process.argv.slice(2);
  if (!out || rest.length > 0) {
    process.stderr.write('usage: node build-bundles.mjs OUT_DIR\n');
    process.exit(2);
  }
  const builds = {};
  for (const [name, entry] of Object.entries(BUILDS)) {
    const built = await build(entry, path.resolve(out, name));
    builds[name] = { ...built, frames: await thrownFrames(built.minified) };
  }
  // applyDiscount and checkout: the two innermost frames, both minified names in both builds.
  const inner = (name) => builds[name].frames.slice(0, 2).map((f) => f.split('@')[0]);
  const [a, b] = [inner('a'), inner('b')];
  if (a.length < 2 || b.length < 2) {
    throw new Error(`too few frames in the bundles' stacks: ${JSON.stringify(builds)}`);
  }
  if (a.some((fn, at) => fn === b[at])) {
    throw new Error(
      `esbuild named the functions alike in both builds (a: ${a}, b: ${b}): ` +
        'the builds would not test grouping across minified names',
    );
  }
  process.stdout.write(`${JSON.stringify({ esbuild: esbuild.version, builds })}\n`);
}

main().catch((error) => {
  process.stderr.write(`build-bundles.mjs: ${error.stack || error}\n`);
  process.exit(1);
});
