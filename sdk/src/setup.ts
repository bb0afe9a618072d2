// The setup task: a task of its own right after `init`, where everything that need not happen
// in `init` itself is done (the transport, the session, the plugins' watchers, building the
// events captured meanwhile). `init` pays only for the hooks that must catch what happens from
// its first moment: a cold `init` is mostly V8 compiling each function at its first call, so
// what is not called in it costs it nothing.
import { safe } from './util';

const waiting: Array<() => void> = [];
let done = false;

/** Runs `fn` in the setup task, in order; at once when that has run. */
export function later(fn: () => void): void {
  if (done) safe(fn)();
  else waiting.push(fn);
}

/**
 * Runs the setup now if it has not run: the task itself, or an earlier need of it (a call of
 * the API, the page going away), so nothing ever waits for it.
 */
export function ready(): void {
  if (done) return;
  done = true;
  for (const fn of waiting.splice(0)) safe(fn)();
}
