import type { z } from 'zod';
import { GatewayError } from '../protocol/errors.ts';

/** Parses an admin request part with zod, turning failures into 400s naming the field. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  throw new GatewayError('invalid_request', path ? `${path}: ${issue.message}` : issue.message, { param: path || null });
}
