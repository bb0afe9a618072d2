#!/usr/bin/env node
// The unit tests of the SDK's pure parts (test/*.test.ts), with node's own test runner: each
// test file is bundled with the sources it imports by the pinned esbuild into a temporary
// directory (node runs no TypeScript), then `node --test` runs them there.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tests = (await readdir(path.join(ROOT, 'test'))).filter((f) => f.endsWith('.test.ts'));
const out = await mkdtemp(path.join(os.tmpdir(), 'frontmon-sdk-unit-'));
let status = 1;
try {
  await esbuild.build({
    entryPoints: tests.map((f) => path.join(ROOT, 'test', f)),
    absWorkingDir: ROOT,
    outdir: out,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
  });
  const files = tests.map((f) => path.join(out, f.replace(/\.ts$/, '.mjs')));
  status = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit' }).status ?? 1;
} finally {
  await rm(out, { recursive: true, force: true });
}
process.exit(status);
