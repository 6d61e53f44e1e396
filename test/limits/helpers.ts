import assert from 'node:assert/strict';
import type { FakeOpenAI } from '../helpers/fake-openai.ts';
import { defaultConfig, type TestGateway } from '../helpers/gateway.ts';
import { post, sleep, type RawResponse } from '../helpers/http.ts';
import type { PlanLimits } from '../../src/limits/plan-limits.ts';

// Shared by the limits tests: lincorelink's three plans (seed 000's table), a config
// with them, chat calls, requests held in flight, and a fake clock for the limiter.

/** Seed 000: Basic 128K/32K/10/100M flash only; Pro 256K/32K/20/∞ both; Max 1M/64K/20/∞ both. */
export const LINCORELINK_PLANS = [
  { id: 'basic', name: 'Basic (free)', models: ['deepseek-v4-flash'], context_tokens: 128_000, max_output_tokens: 32_000, concurrency: 10, daily_tokens: 100_000_000 },
  { id: 'pro', name: 'Pro', models: ['deepseek-v4-flash', 'deepseek-v4-pro'], context_tokens: 256_000, max_output_tokens: 32_000, concurrency: 20 },
  { id: 'max', name: 'Max', models: ['deepseek-*'], context_tokens: 1_000_000, max_output_tokens: 64_000, concurrency: 20 },
];

export function limitsConfig(upstream: string, extraPlans: Record<string, unknown>[] = [], extraModels: Record<string, unknown>[] = []): Record<string, unknown> {
  const base = defaultConfig(upstream);
  return { ...base, models: [...(base.models as unknown[]), ...extraModels], plans: [...LINCORELINK_PLANS, ...extraPlans] };
}

export function chat(tg: TestGateway, key: string, body: Record<string, unknown> = {}): Promise<RawResponse> {
  return post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }], ...body }, { key });
}

/** About `n` tokens of English-like text (each word is one o200k token). */
export function textOfTokens(n: number): string {
  const words = [' the', ' quick', ' brown', ' fox', ' jumps', ' over', ' lazy', ' dog', ' and', ' runs', ' away', ' from', ' home', ' today', ' again', ' now'];
  const parts: string[] = new Array(n);
  for (let i = 0; i < n; i++) parts[i] = words[(i * 7 + (i >> 4)) % words.length]!;
  return parts.join('');
}

export async function waitFor(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

export async function limitsOf(tg: TestGateway, accountId: string): Promise<any> {
  const r = await tg.admin('GET', `/accounts/${accountId}/limits`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

export async function waitIdle(tg: TestGateway, accountId: string): Promise<void> {
  await waitFor('no request in flight', async () => (await limitsOf(tg, accountId)).concurrency.in_flight === 0);
}

/**
 * Starts `n` chat requests the upstream holds (behaviour `hang`) and resolves once the
 * upstream has received all of them, i.e. they hold their slots. abort() ends them.
 */
export async function holdInFlight(tg: TestGateway, up: FakeOpenAI, key: string, n: number, body: Record<string, unknown> = {}) {
  const from = up.requests.length;
  const controllers = Array.from({ length: n }, () => new AbortController());
  const responses = controllers.map((ac) =>
    fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hold' }], ...body }),
      signal: ac.signal,
    }).catch((err: unknown) => err as Error),
  );
  await waitFor(`${n} requests at the upstream`, () => up.requests.length >= from + n);
  return {
    async abort() {
      for (const ac of controllers) ac.abort();
      await Promise.all(responses);
    },
  };
}

/** A settable clock for the gateway's limiter; restore() gives it back the real one. */
export function fakeClock(tg: TestGateway, start: number) {
  const limits = tg.gw.rt.limits as PlanLimits;
  let now = start;
  limits.setClock(() => now);
  return {
    get now() {
      return now;
    },
    set(t: number) {
      now = t;
    },
    advance(ms: number) {
      now += ms;
    },
    restore() {
      limits.setClock(Date.now);
    },
  };
}
