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

/** Lists answered whole take no parameters: `?revoked=false` was dropped and listed revoked keys too. */
export const noQuery = z.strictObject({});
