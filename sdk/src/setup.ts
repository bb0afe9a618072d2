// The setup: everything that need not happen in `init` itself (the transport, the session, the
// plugins' watchers, building the events captured meanwhile), in tasks of their own right after
// it, one part per task, so that none of them is long. `init` pays only for the hooks that must
// catch what happens from its first moment: a cold `init` is mostly V8 compiling each function
// at its first call, so what is not called in it costs it nothing.
import { safe } from './util';

const waiting: Array<() => void> = [];
let done = false;

/** Runs `fn` in the setup, after the parts already waiting; at once when the setup is done. */
export function later(fn: () => void): void {
  if (done) safe(fn)();
  else waiting.push(fn);
}

/** Starts the setup: the next part in each of the next tasks. */
export function setUpSoon(): void {
  setTimeout(function step() {
    const fn = waiting.shift();
    if (fn) safe(fn)();
    if (waiting.length) setTimeout(step);
    else done = true;
  });
}

/**
 * Runs what is left of the setup now: for a call of the API or the page going away before it
 * has run, so nothing ever waits for it.
 */
export function ready(): void {
  for (let fn = waiting.shift(); fn; fn = waiting.shift()) safe(fn)();
  done = true;
}
