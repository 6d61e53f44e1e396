import { z } from 'zod';
import { perMillionToPerToken, usdToPico } from '../billing/money.ts';
import { UsageError, type Flags } from './command-line.ts';

// The values of typed flags, checked by the rules the admin API applies, before anything
// is sent: a mistyped value is a command-line error (exit 2) that changes nothing, not
// the gateway's 400 (exit 1), which a script cannot tell from a refusal.

const isoDate = z.iso.datetime({ offset: true });

function page(name: string, value: string): void {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= 1000)) throw new UsageError(`--${name} takes a whole number from 1 to 1000, not "${value}"`);
}

function date(name: string, value: string): void {
  if (!isoDate.safeParse(value).success) throw new UsageError(`--${name} takes an ISO 8601 date and time with its offset (2026-12-31T00:00:00Z), not "${value}"`);
}

function amount(name: string, value: string): void {
  try {
    usdToPico(value);
  } catch {
    throw new UsageError(`--${name} takes an amount in USD such as 10 or 0.50 (a negative one as --${name}=-0.50), not "${value}"`);
  }
}

function price(name: string, value: string): void {
  try {
    perMillionToPerToken(value);
  } catch {
    throw new UsageError(`--${name} takes a USD price per 1M tokens with at most 6 decimals, not "${value}"`);
  }
}

const CHECKS: Partial<Record<keyof Flags, (name: string, value: string) => void>> = {
  limit: page,
  from: date,
  to: date,
  'expires-at': (name, value) => value === 'none' || date(name, value),
  amount,
  input: price,
  output: price,
  'cached-input': price,
  'cache-write': price,
};

/** Flags whose empty value can only be a mistake (`--limit=` was silently dropped). */
const NOT_EMPTY: readonly (keyof Flags)[] = ['limit', 'from', 'to', 'expires-at', 'amount', 'after', 'before', 'account', 'url', 'admin-token', 'input', 'output', 'cached-input', 'cache-write'];

export function checkFlagValues(command: string, flags: Flags): void {
  for (const [name, value] of Object.entries(flags) as [keyof Flags, string][]) {
    if (value === '' && NOT_EMPTY.includes(name)) throw new UsageError(`--${name} takes a value`);
    CHECKS[name]?.(name, value);
  }
  if (command === 'accounts credit' && flags.amount !== undefined && usdToPico(flags.amount) <= 0n) throw new UsageError(`--amount of a credit must be above 0, not "${flags.amount}"`);
}

/** The gateway's URL: http or https, with nothing the admin client would drop. */
export function checkGatewayUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`the gateway URL must be an http:// or https:// URL, not "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`the gateway URL must be an http:// or https:// URL, not "${value}"`);
  return value;
}
