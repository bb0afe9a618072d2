import type { FmEvent } from './types';
import { parseStack } from './stack';
import { hash } from './util';

/**
 * What makes two events "the same" for the per-session cap: the type, the message without
 * its numbers, and where it was thrown (the innermost frame), or the URL that failed.
 */
export function fingerprint(e: FmEvent): string {
  const top = parseStack(e.stack)[0];
  const where = top ? `${top.file}:${top.line}:${top.col}` : String(e.target || '');
  return hash(`${e.type}|${String(e.message || e.name || '').replace(/\d+/g, '0')}|${where}`);
}
