/** One frame of a browser stack trace. */
export interface Frame {
  fn?: string;
  file: string;
  line?: number;
  col?: number;
}

// V8: `    at fn (file:1:2)`, `    at file:1:2`, `    at async fn (file:1:2)`.
const CHROME = /^\s*at (?:(?:async )?(.+?) \()?((?:[a-z-]+:|\/|<anonymous>).*?)(?::(\d+))?(?::(\d+))?\)?\s*$/i;
// SpiderMonkey and JavaScriptCore: `fn@file:1:2`, `@file:1:2`.
const GECKO = /^\s*([^@\s]*)@(.+?)(?::(\d+))?(?::(\d+))?\s*$/;

/** The frames of an `Error#stack`, innermost first; lines that are not frames are skipped. */
export function parseStack(stack: string | undefined): Frame[] {
  const frames: Frame[] = [];
  for (const line of (stack || '').split('\n')) {
    const m = CHROME.exec(line) || GECKO.exec(line);
    if (!m || !m[2]) continue;
    frames.push({
      fn: m[1] || undefined,
      file: m[2],
      line: m[3] ? +m[3] : undefined,
      col: m[4] ? +m[4] : undefined,
    });
  }
  return frames;
}

/** `TypeError: x is undefined`, from anything thrown or rejected. */
export function describe(thrown: unknown): { message: string; stack?: string } {
  if (thrown instanceof Error || (thrown && typeof (thrown as Error).message === 'string')) {
    const e = thrown as Error;
    return { message: (e.name || 'Error') + ': ' + e.message, stack: typeof e.stack === 'string' ? e.stack : undefined };
  }
  let text: string;
  try {
    text = typeof thrown === 'string' ? thrown : JSON.stringify(thrown);
  } catch {
    text = String(thrown);
  }
  return { message: 'Non-Error thrown: ' + String(text).slice(0, 500) };
}
