// Money is an integer number of picodollars (1 pUSD = 1e-12 USD) held in a bigint.
// Why this unit: the cheapest real price (cached input at $0.004 per 1M tokens) is
// 4,000 pUSD per token, so one token is never rounded away, and a signed 64-bit column
// still holds ±$9.2 million per account.
//
// Prices are USD per 1M tokens with at most 6 decimal places, so a single token always
// costs a whole number of picodollars and a charge (tokens × per-token price) is exact:
// there is no rounding anywhere in metering.

export type Pico = bigint;

export const PICO_PER_USD = 1_000_000_000_000n;
export const MAX_PICO = 9_223_372_036_854_775_807n; // int64 column limit

const DECIMAL = /^(-)?(\d{1,13})(?:\.(\d{1,12}))?$/;

/** Parses a USD decimal string ("12.5", "-0.000004") exactly. Throws on anything else. */
export function usdToPico(value: string | number): Pico {
  const text = typeof value === 'number' ? numberText(value) : value.trim();
  const m = DECIMAL.exec(text);
  if (!m) throw new RangeError(`not a USD amount with at most 12 decimal places: ${JSON.stringify(String(value))}`);
  const whole = BigInt(m[2]!);
  const frac = BigInt((m[3] ?? '').padEnd(12, '0'));
  const abs = whole * PICO_PER_USD + frac;
  if (abs > MAX_PICO) throw new RangeError(`amount out of range: ${text}`);
  return m[1] ? -abs : abs;
}

/** Exact decimal string, trailing zeros trimmed but at least 2 decimals ("1.50", "0.000004"). */
export function picoToUsd(p: Pico): string {
  const neg = p < 0n;
  const abs = neg ? -p : p;
  const whole = abs / PICO_PER_USD;
  let frac = (abs % PICO_PER_USD).toString().padStart(12, '0').replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  return `${neg ? '-' : ''}${whole}.${frac}`;
}

/** Per-token price in pUSD from a "USD per 1M tokens" price (max 6 decimals). */
export function perMillionToPerToken(value: string | number): Pico {
  const text = typeof value === 'number' ? numberText(value) : value.trim();
  const m = /^(\d{1,9})(?:\.(\d{1,6}))?$/.exec(text);
  if (!m) throw new RangeError(`price must be a non-negative USD amount per 1M tokens with at most 6 decimal places, got ${JSON.stringify(String(value))}`);
  // USD/1M tokens × 1e12 pUSD/USD ÷ 1e6 tokens = × 1e6 pUSD per token
  return BigInt(m[1]!) * 1_000_000n + BigInt((m[2] ?? '').padEnd(6, '0'));
}

/** Inverse of perMillionToPerToken, for display. */
export function perTokenToPerMillion(p: Pico): string {
  const whole = p / 1_000_000n;
  const frac = (p % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : `${whole}`;
}

// YAML and JSON hand us numbers; their shortest round-trip text is the decimal the
// operator wrote (0.16 -> "0.16"), except in exponent form, which we expand digit for
// digit (toFixed would round 1.23456789e-7 to 12 places and credit a different amount).
// A double holds any decimal of up to 15 significant digits exactly; a shortest text of
// 16 or 17 digits means the number sent had more than a double holds (1234567.123456789012
// arrives as 1234567.123456789), so it is refused rather than silently changed.
const MAX_EXACT_DIGITS = 15;

function numberText(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(String(n));
  const text = m ? expandExponent(m[1]!, m[2]! + (m[3] ?? ''), Number(m[4]) - (m[3] ?? '').length) : String(n);
  const digits = text.replace(/^-?0*\.?0*/, '').replace('.', '').replace(/0+$/, '');
  if (digits.length > MAX_EXACT_DIGITS) {
    throw new RangeError(`${text} has more significant digits than a JSON number holds exactly; send the amount as a decimal string`);
  }
  return text;
}

/** sign, digits × 10^exp as plain decimal text ("", "123", -9 -> "0.000000123"). */
function expandExponent(sign: string, digits: string, exp: number): string {
  if (exp >= 0) return `${sign}${digits}${'0'.repeat(exp)}`;
  const padded = digits.padStart(-exp + 1, '0');
  return `${sign}${padded.slice(0, exp)}.${padded.slice(exp)}`;
}
