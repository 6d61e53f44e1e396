import { z } from 'zod';
import { GatewayError } from '../protocol/errors.ts';

/** Parses an admin request part with zod, turning failures into 400s naming the field. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  // An unknown field's issue sits on the object holding it; `param` names the field itself.
  const param = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!].map(String).join('.') : path;
  throw new GatewayError('invalid_request', path ? `${path}: ${issue.message}` : issue.message, { param: param || null });
}

/**
 * Text people read in listings and terminals (names, ledger notes): well-formed Unicode (a
 * lone surrogate was echoed back as sent, then read back from the store as U+FFFD) and no
 * control characters (an escape sequence in a name would reach an operator's terminal
 * through the CLI; a line break would split a listing's row). Tabs and line breaks are
 * allowed in notes, which are prose.
 */
export function readableText(max: number, opts: { lines?: boolean } = {}) {
  const control = opts.lines ? /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/ : /[\u0000-\u001f\u007f-\u009f]/;
  return z
    .string()
    .max(max)
    .refine((s) => s.isWellFormed(), 'must be valid Unicode (it holds a lone surrogate)')
    .refine((s) => !control.test(s), 'must not contain control characters');
}

/** Lists answered whole take no parameters: `?revoked=false` was dropped and listed revoked keys too. */
export const noQuery = z.strictObject({});
