import { UsageError, type Flags } from './command-line.ts';

// Turns the limit flags of `plans create|update` and `keys create|update` into the admin
// API's body fields. A limit is a whole number; `none` sends null (on an update: the
// limit is removed, so the plan's applies again, or none at all). A value the API would
// refuse anyway is a command-line error here (exit 2), not a round trip (exit 1).

const FIELDS: Record<string, string> = {
  models: 'models',
  'context-tokens': 'context_tokens',
  'max-output-tokens': 'max_output_tokens',
  concurrency: 'concurrency',
  rpm: 'rpm',
  tpm: 'tpm',
  'daily-tokens': 'daily_tokens',
};

function wholeNumber(name: string, value: string): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name} takes a whole number above 0, or none, not "${value}"`);
  return n;
}

/** `--models a,b` as a list of model ids or patterns (`deepseek-*`); `none` for no list. */
function modelList(value: string): string[] | null {
  if (value === 'none') return null;
  const list = value.split(',').map((m) => m.trim());
  if (list.some((m) => m === '')) throw new UsageError(`--models takes model ids separated by commas, or none, not "${value}"`);
  return list;
}

/** The body fields for whichever of `names` were given. */
export function limitFields(flags: Flags, names: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const value = flags[name as keyof Flags];
    if (value === undefined) continue;
    out[FIELDS[name]!] = name === 'models' ? modelList(value) : value === 'none' ? null : wholeNumber(name, value);
  }
  return out;
}

/** `value` when it is one of `choices`, else a command-line error. */
export function oneOf<T extends string>(name: string, value: string | undefined, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`--${name} takes ${choices.join(' or ')}, not "${value}"`);
  return value as T;
}
