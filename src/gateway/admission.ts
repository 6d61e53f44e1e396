import { DEFAULT_MAX_OUTPUT_TOKENS, refuseIfSuspended } from '../billing/billing.ts';
import { pricesToJson, type Prices } from '../billing/prices.ts';
import { GatewayError } from '../protocol/errors.ts';
import { COUNT_JOB_MIN_CHARS, countJob, hasUnmeasuredParts, type CountResult } from '../limits/token-count.ts';
import type { Exchange } from './exchange.ts';
import type { Runtime } from './runtime.ts';

/**
 * Admission: plan and key limits (which may clamp max tokens), then the reservation of
 * the request's maximum cost. Returns the body to send upstream. Everything here is in
 * memory: no I/O on the hot path.
 */
export function admit(rt: Runtime, ex: Exchange, body: Record<string, any>, requestedMaxTokens: number | undefined, measured?: CountResult): Record<string, any> {
  const model = ex.model!;
  if (rt.journal.stalled) {
    throw new GatewayError('store_unavailable', 'The gateway cannot write to its store right now, so it takes no requests; nothing was charged. Retry shortly, or on another instance.');
  }
  // Before the limits: a suspended account's 429 or 403 would send its client waiting or
  // switching models for nothing (only the operator can help), and use up its rpm window.
  refuseIfSuspended(ex.account!);
  const grant = rt.limits.admit({ key: ex.key!, account: ex.account!, model, endpoint: ex.endpoint === 'embeddings' ? 'embeddings' : 'chat', body, requestedMaxTokens, measured });
  ex.grant = grant;
  for (const h in grant.headers) ex.headers[h] = grant.headers[h]!;
  let out = body;
  if (grant.clamped && grant.maxOutputTokens !== undefined) {
    // The field the client used is clamped in place; a cap on a request that set none
    // travels in ChatCall.maxOutputTokens, for each adapter to write in its own field.
    if (body.max_completion_tokens != null || body.max_tokens != null) {
      out = { ...body };
      // Each field only lowered: with both set, the smaller may be the one the upstream reads.
      if (body.max_completion_tokens != null) out.max_completion_tokens = Math.min(body.max_completion_tokens, grant.maxOutputTokens);
      if (body.max_tokens != null) out.max_tokens = Math.min(body.max_tokens, grant.maxOutputTokens);
    } else {
      ex.outputCap = grant.maxOutputTokens;
    }
  }
  ex.body = out;
  // The output cap binds each choice: `n` choices may write n times as much (validated a
  // positive integer). Reserving one choice's worth let n: 50 overdraw a balance 50-fold.
  // Capped where the product stops being an exact integer (n: 1e305 made it Infinity);
  // far past any balance either way.
  const choices = typeof out.n === 'number' ? out.n : 1;
  const perChoice = grant.maxOutputTokens ?? model.maxOutputTokens ?? defaultOutputTokens(model.contextWindow, grant.inputTokens);
  ex.outputReserved = perChoice;
  const maxOutput = ex.endpoint === 'embeddings' ? 0 : Math.min(perChoice * choices, Number.MAX_SAFE_INTEGER);
  const inputTokens = reservedInputTokens(ex, out, grant.inputTokens);
  try {
    ex.reservation = rt.billing.reserve(ex.id, ex.account!, model.id, inputTokens, maxOutput);
  } catch (err) {
    // A 402 uses up nothing: without this, a customer at $0 soon read 429 (which the SDKs
    // retry) in place of the 402 that says why, and a top-up found the minute spent.
    Object.assign(ex.headers, grant.refuse());
    throw err;
  }
  ex.reservedInputTokens = inputTokens;
  ex.reservedOutputTokens = maxOutput;
  ex.headers['x-tollgate-token-rate'] = tokenRate(ex.reservation.prices);
  return out;
}

/**
 * Measures an input that needs long tokenizing against its context cap on a token count
 * thread (limits/token-count-threads.ts), for admit(); undefined, at no cost, when admit
 * can measure it in place (a body shorter than COUNT_JOB_MIN_CHARS holds less text
 * than that), and when admit refuses it whatever its size (a stalled store, a suspended
 * account, a model the key may not use): no one's count waits behind such a request's.
 * The job is dropped if the client leaves first.
 */
export function measureAhead(rt: Runtime, ex: Exchange, body: Record<string, any>, bodyLength: number): Promise<CountResult> | undefined {
  if (bodyLength < COUNT_JOB_MIN_CHARS) return undefined;
  const { key, account, model } = ex;
  if (rt.journal.stalled || account!.suspended || !rt.limits.allows(key!, account!, model!)) return undefined;
  const job = countJob(ex.endpoint === 'embeddings' ? 'embeddings' : 'chat', body, rt.limits.contextCap(key!, account!, model!));
  return job ? rt.tokenCount.measure(job, { owner: account!.id, signal: ex.goneSignal() }) : undefined;
}

/**
 * The input a request reserves for: what admission measured, except for a chat request
 * with file or audio parts, whose cost only the upstream can tell (a 3 MB PDF measured as
 * a few thousand tokens was billed a million, and thirty at once overdrew $0.05 to -$11).
 * Such a request reserves the model's context window, the most input the upstream can
 * take; a model configured without one, every byte of the body as a token.
 */
function reservedInputTokens(ex: Exchange, body: Record<string, any>, measured: number): number {
  if (ex.endpoint !== 'chat.completions' || !hasUnmeasuredParts(body)) return measured;
  return Math.max(measured, ex.model!.contextWindow ?? Buffer.byteLength(JSON.stringify(body)));
}

/**
 * The output reserved for (and sent upstream as the cap of) a request that no one capped:
 * DEFAULT_MAX_OUTPUT_TOKENS, but no more than the model's context has room for beside the
 * input (a bound of it), since an upstream refuses a max_tokens past that (vLLM: 400 for
 * 16,384 on an 8K model) where the request without one went through.
 */
function defaultOutputTokens(contextWindow: number | undefined, inputTokens: number): number {
  if (contextWindow === undefined) return DEFAULT_MAX_OUTPUT_TOKENS;
  return Math.max(1, Math.min(DEFAULT_MAX_OUTPUT_TOKENS, contextWindow - inputTokens));
}

const tokenRates = new WeakMap<Prices, string>();

/** The header value for a price set; prices objects are replaced, never mutated, so it is cached. */
function tokenRate(p: Prices): string {
  let v = tokenRates.get(p);
  if (v === undefined) {
    const j = pricesToJson(p);
    v = `input=${j.input};cached_input=${j.cached_input};output=${j.output};cache_write=${j.cache_write};unit=USD/1M`;
    tokenRates.set(p, v);
  }
  return v;
}
