import type { PricingConfig } from '../config/schema.ts';
import type { Usage } from '../protocol/usage.ts';
import { perMillionToPerToken, perTokenToPerMillion, type Pico } from './money.ts';

/** Per-token prices in pUSD. */
export interface Prices {
  input: Pico;
  cachedInput: Pico;
  output: Pico;
  cacheWrite: Pico;
}

export const FREE: Prices = Object.freeze({ input: 0n, cachedInput: 0n, output: 0n, cacheWrite: 0n });

/** cached_input defaults to input (no discount) and cache_write to input (no surcharge). */
export function pricesFromConfig(p: PricingConfig | undefined): Prices {
  if (!p) return FREE;
  const input = perMillionToPerToken(p.input);
  return {
    input,
    cachedInput: p.cached_input !== undefined ? perMillionToPerToken(p.cached_input) : input,
    output: perMillionToPerToken(p.output),
    cacheWrite: p.cache_write !== undefined ? perMillionToPerToken(p.cache_write) : input,
  };
}

export interface PricesJson {
  readonly input: string;
  readonly cached_input: string;
  readonly output: string;
  readonly cache_write: string;
}

// Every settled request records its prices; a price set is replaced, never mutated, so
// its decimal form is computed once per set instead of once per request.
const asJson = new WeakMap<Prices, PricesJson>();

const asText = new WeakMap<Prices, string>();

/** pricesToJson as JSON text, for the request log row every request writes. */
export function pricesToJsonText(p: Prices): string {
  let t = asText.get(p);
  if (t === undefined) {
    t = JSON.stringify(pricesToJson(p));
    asText.set(p, t);
  }
  return t;
}

export function pricesToJson(p: Prices): PricesJson {
  let j = asJson.get(p);
  if (!j) {
    j = Object.freeze({
      input: perTokenToPerMillion(p.input),
      cached_input: perTokenToPerMillion(p.cachedInput),
      output: perTokenToPerMillion(p.output),
      cache_write: perTokenToPerMillion(p.cacheWrite),
    });
    asJson.set(p, j);
  }
  return j;
}

/**
 * The exact charge for what the upstream reported: each token counted once at its
 * price. Reasoning tokens are part of completion and billed as output.
 */
export function costOf(u: Usage, p: Prices): Pico {
  const fresh = BigInt(Math.max(0, u.prompt - u.cached - u.cacheWrite));
  return fresh * p.input + BigInt(u.cached) * p.cachedInput + BigInt(u.cacheWrite) * p.cacheWrite + BigInt(u.completion) * p.output;
}

/** True when every price is zero: nothing such a model's requests do can cost anything. */
export function isFree(p: Prices): boolean {
  return p.input === 0n && p.cachedInput === 0n && p.cacheWrite === 0n && p.output === 0n;
}

function dearer(a: Pico, b: Pico): Pico {
  return a > b ? a : b;
}

/**
 * The most a request can cost, reserved before the upstream is called: every input token
 * at the dearest input rate, plus the output cap. On a priced model it is never less than
 * one token at the model's dearest rate: an embeddings input of `[""]` measures 0 tokens
 * but was billed 4 by the upstream, and a reservation of 0 let an account at $0 run such
 * requests without end.
 */
export function maxCostOf(inputTokens: number, maxOutputTokens: number, p: Prices): Pico {
  const inputRate = dearer(dearer(p.input, p.cachedInput), p.cacheWrite);
  const max = BigInt(inputTokens) * inputRate + BigInt(maxOutputTokens) * p.output;
  const floor = dearer(inputRate, p.output);
  return max < floor ? floor : max;
}
