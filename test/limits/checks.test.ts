import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startFakeAnthropic } from '../helpers/fake-anthropic.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { expectError, get, post } from '../helpers/http.ts';
import { countChatInputTokens } from '../../src/limits/token-count.ts';
import { chat, fakeClock, holdInFlight, limitsConfig, limitsOf, textOfTokens, waitIdle } from './helpers.ts';

// Every limit check over HTTP: its status, code, message and headers, the order they
// run in, and that the upstream is never called for a refused request.

const REQ_TRIO = ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'];
const SEED_TRIO = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'];
const TOKEN_TRIO = ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'];
const rate429 = (code: string) => ({ status: 429, type: 'rate_limit_error', code, param: null });
const DAY = 86_400_000;

describe('limit checks', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({
      config: limitsConfig(
        up.baseUrl,
        [
          { id: 'rpm3', rpm: 3 },
          { id: 'conc2', concurrency: 2 },
          { id: 'tpm', tpm: 1000 },
          { id: 'daily', daily_tokens: 5000 },
          { id: 'all', models: ['deepseek-*'], concurrency: 1, rpm: 1, tpm: 1, daily_tokens: 1 },
          { id: 'open' },
        ],
        [
          { id: 'small-ctx', owned_by: 'deepseek', context_window: 1000, max_output_tokens: 500, upstreams: [{ provider: 'fake', model: 'upstream-small' }], pricing: { input: '0.1', output: '0.1' } },
          { id: 'ctx-8k', owned_by: 'vllm', context_window: 8192, upstreams: [{ provider: 'fake', model: 'upstream-8k' }], pricing: { input: '0.1', output: '0.1' } },
        ],
      ),
    });
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  const calls = () => up.requests.length;

  test('403 model_not_available when the plan does not include the model; the message names the plan', async () => {
    const { key } = await tg.customer({ plan: 'basic' });
    const before = calls();
    const e = expectError(await chat(tg, key, { model: 'deepseek-v4-pro' }), { status: 403, type: 'permission_error', code: 'model_not_available', param: 'model' });
    assert.match(e.message, /deepseek-v4-pro/);
    assert.match(e.message, /plan 'basic'/);
    assert.equal(calls(), before, 'upstream not called');
    // an unknown model is still 404 model_not_found (checked before limits)
    expectError(await chat(tg, key, { model: 'nope-1' }), { status: 404, type: 'invalid_request_error', code: 'model_not_found', param: 'model' });
    assert.equal((await chat(tg, key)).status, 200);
  });

  test("403 model_not_available for a model outside the key's own allowlist", async () => {
    const { accountId } = await tg.customer({ plan: 'pro' });
    const k = await tg.admin('POST', `/accounts/${accountId}/keys`, { name: 'flash only', models: ['deepseek-v4-flash'] });
    assert.equal(k.status, 201, JSON.stringify(k.body));
    assert.deepEqual(k.body.overrides, { models: ['deepseek-v4-flash'] });
    const e = expectError(await chat(tg, k.body.key, { model: 'deepseek-v4-pro' }), { status: 403, type: 'permission_error', code: 'model_not_available', param: 'model' });
    assert.match(e.message, /this API key/);
    assert.equal((await chat(tg, k.body.key)).status, 200);
  });

  test('413 context_length_exceeded: both numbers in the message, upstream not called', async () => {
    const { key } = await tg.customer({ plan: 'basic' });
    const before = calls();
    const e = expectError(await chat(tg, key, { messages: [{ role: 'user', content: textOfTokens(140_000) }] }), { status: 413, type: 'invalid_request_error', code: 'context_length_exceeded', param: 'messages' });
    assert.match(e.message, /about 1[34]\d{4} input tokens/, e.message);
    assert.match(e.message, /128000/);
    assert.match(e.message, /plan 'basic'/);
    assert.equal(calls(), before);
    // just under the cap passes
    assert.equal((await chat(tg, key, { messages: [{ role: 'user', content: textOfTokens(120_000) }] })).status, 200);
  });

  test("413 against the model's context window when it is smaller than the plan's cap", async () => {
    const { key } = await tg.customer({ plan: 'open' });
    const e = expectError(await chat(tg, key, { model: 'small-ctx', messages: [{ role: 'user', content: textOfTokens(1200) }] }), { status: 413, type: 'invalid_request_error', code: 'context_length_exceeded', param: 'messages' });
    assert.match(e.message, /context window of model 'small-ctx'/);
    assert.match(e.message, /1000/);
    // text that looks like a special token is counted as text, not a 500
    assert.equal((await chat(tg, key, { model: 'small-ctx', messages: [{ role: 'user', content: 'say <|endoftext|> please' }] })).status, 200);
  });

  test('max_tokens above the output cap is clamped silently; the clamped value reaches the upstream', async () => {
    const { key } = await tg.customer({ plan: 'basic' });
    const sent = async (body: Record<string, unknown>) => {
      const r = await chat(tg, key, body);
      assert.equal(r.status, 200, r.text);
      return up.requests.at(-1)!.body;
    };
    let b = await sent({ max_tokens: 50_000 });
    assert.equal(b.max_tokens, 32_000);
    // A lone max_completion_tokens travels as max_tokens, the field this provider reads.
    b = await sent({ max_completion_tokens: 99_999 });
    assert.equal(b.max_tokens, 32_000);
    assert.equal(b.max_completion_tokens, undefined);
    b = await sent({ max_tokens: 100 });
    assert.equal(b.max_tokens, 100);
    assert.equal(b.max_completion_tokens, undefined);
    // no cap asked: the plan's cap is sent (in the provider's max_tokens_field, max_tokens
    // by default), so the upstream's default cannot exceed it
    b = await sent({});
    assert.equal(b.max_tokens, 32_000);
    assert.equal(b.max_completion_tokens, undefined);
    // Both land in the client's own text: the clamp in place, the cap added at the end.
    for (const [asked, expected] of [
      ['{"model":"deepseek-v4-flash", "max_tokens": 50000, "messages":[{"role":"user","content":"hi"}]}', '{"model":"upstream-flash", "max_tokens": 32000, "messages":[{"role":"user","content":"hi"}]}'],
      ['{"model":"deepseek-v4-flash", "messages":[{"role":"user","content":"hi"}] }', '{"model":"upstream-flash", "messages":[{"role":"user","content":"hi"}] ,"max_tokens":32000}'],
    ] as const) {
      const r = await post(`${tg.url}/v1/chat/completions`, asked, { key });
      assert.equal(r.status, 200, r.text);
      assert.equal(up.requests.at(-1)!.text, expected);
    }
    // the model's own cap clamps too; with no plan cap, a request without one is left alone
    const { key: open } = await tg.customer({ plan: 'open' });
    assert.equal((await chat(tg, open, { model: 'small-ctx', max_tokens: 4000 })).status, 200);
    assert.equal(up.requests.at(-1)!.body.max_tokens, 500);
    assert.equal((await chat(tg, open, { model: 'small-ctx' })).status, 200);
    assert.equal(up.requests.at(-1)!.body.max_completion_tokens, undefined);
    assert.equal(up.requests.at(-1)!.body.max_tokens, undefined);
    // With no cap from the client, the plan or the model's config, the 16,384 tokens the
    // gateway reserved are sent: left to its own default, an upstream (vLLM: the rest of
    // the context) could write past the reservation and overdraw the balance.
    assert.equal((await chat(tg, open, { model: 'deepseek-v4-flash' })).status, 200);
    assert.equal(up.requests.at(-1)!.body.max_tokens, 16_384);
    assert.equal(up.requests.at(-1)!.body.max_completion_tokens, undefined);
    // ...but no more than the model's context has room for beside the input: an upstream
    // refuses a max_tokens past that (vLLM, on an 8K model).
    const prompt = 'tell me a long story about a fox '.repeat(40);
    assert.equal((await chat(tg, open, { model: 'ctx-8k', messages: [{ role: 'user', content: prompt }] })).status, 200);
    const cap = up.requests.at(-1)!.body.max_tokens;
    assert.ok(cap < 8192 - 300 && cap > 6000, String(cap));
    assert.ok(cap + countChatInputTokens({ messages: [{ role: 'user', content: prompt }] }) <= 8192);
  });

  test('with both max-token fields set, the one over the cap is lowered and the one under it is left alone', async () => {
    const { key } = await tg.customer({ plan: 'basic' });
    const r = await chat(tg, key, { max_completion_tokens: 100, max_tokens: 50_000 });
    assert.equal(r.status, 200, r.text);
    const b = up.requests.at(-1)!.body;
    // Raising 100 to the cap would let an upstream that reads max_completion_tokens
    // write (and bill) 320 times the answer the client asked for.
    assert.equal(b.max_completion_tokens, 100);
    assert.equal(b.max_tokens, 32_000);
  });

  test('429 concurrency_limit_exceeded beyond the plan\'s requests in flight; Retry-After: 1', async () => {
    const { key, accountId } = await tg.customer({ plan: 'conc2' });
    up.behave({ hang: true });
    try {
      const held = await holdInFlight(tg, up, key, 2);
      assert.equal((await limitsOf(tg, accountId)).concurrency.in_flight, 2);
      const before = calls();
      const r = await chat(tg, key);
      const e = expectError(r, rate429('concurrency_limit_exceeded'));
      assert.match(e.message, /2 at a time/);
      assert.equal(r.headers.get('retry-after'), '1');
      assert.equal(calls(), before);
      await held.abort();
      await waitIdle(tg, accountId);
    } finally {
      up.behave({});
    }
    assert.equal((await chat(tg, key)).status, 200);
  });

  test('rpm: exactly N pass, the N+1st is 429 with an exact Retry-After, and passes once it elapses', async () => {
    const { key } = await tg.customer({ plan: 'rpm3' });
    const t0 = Date.UTC(2030, 0, 1, 12, 0, 0);
    const clock = fakeClock(tg, t0);
    try {
      for (let i = 0; i < 3; i++) {
        const r = await chat(tg, key);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers.get('x-ratelimit-limit-requests'), '3');
        assert.equal(r.headers.get('x-ratelimit-remaining-requests'), String(2 - i));
        assert.equal(r.headers.get('x-ratelimit-reset-requests'), '1m0s');
        assert.equal(r.headers.get('x-ratelimit-limit'), '3');
        assert.equal(r.headers.get('x-ratelimit-remaining'), String(2 - i));
        assert.equal(r.headers.get('x-ratelimit-reset'), new Date(clock.now + 60_000).toISOString());
        for (const h of TOKEN_TRIO) assert.equal(r.headers.get(h), null, `${h} only with a tpm limit`);
        clock.advance(10_000); // at 0 s, 10 s, 20 s
      }
      const before = calls();
      let r = await chat(tg, key);
      let e = expectError(r, rate429('rate_limit_exceeded'));
      assert.match(e.message, /3 requests per minute/);
      assert.equal(r.headers.get('retry-after'), '30'); // the 0 s request leaves the window at 60 s
      assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '0');
      assert.equal(r.headers.get('x-ratelimit-remaining'), '0');
      assert.equal(r.headers.get('x-ratelimit-reset-requests'), '50s'); // everything gone at 80 s
      assert.equal(calls(), before, 'upstream not called');
      clock.advance(29_999);
      r = await chat(tg, key);
      expectError(r, rate429('rate_limit_exceeded'));
      assert.equal(r.headers.get('retry-after'), '1');
      clock.advance(1); // exactly Retry-After after the refusal... at 60 s
      r = await chat(tg, key);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '0');
      // refused requests did not count: the next slot frees when the 10 s request leaves
      r = await chat(tg, key);
      assert.equal(r.headers.get('retry-after'), '10');
    } finally {
      clock.restore();
    }
  });

  test('rpm: a burst of N gets Retry-After 60, and waiting that long is enough', async () => {
    const { key } = await tg.customer({ plan: 'rpm3' });
    const clock = fakeClock(tg, Date.now());
    try {
      for (let i = 0; i < 3; i++) assert.equal((await chat(tg, key)).status, 200);
      const r = await chat(tg, key);
      assert.equal(r.status, 429);
      const wait = Number(r.headers.get('retry-after'));
      assert.equal(wait, 60);
      clock.advance(wait * 1000);
      assert.equal((await chat(tg, key)).status, 200);
    } finally {
      clock.restore();
    }
  });

  test('streamed answers carry the rate-limit headers too, and their tokens count once the stream ends', async () => {
    const { accountId } = await tg.customer({ plan: 'open' });
    const k = await tg.admin('POST', `/accounts/${accountId}/keys`, { rpm: 5, tpm: 100_000 });
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${k.body.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    assert.equal(res.headers.get('x-ratelimit-limit-requests'), '5');
    assert.equal(res.headers.get('x-ratelimit-remaining-requests'), '4');
    assert.equal(res.headers.get('x-ratelimit-limit'), '5');
    assert.equal(res.headers.get('x-ratelimit-limit-tokens'), '100000');
    const text = await res.text();
    const usage = text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6))).find((c) => c.usage)?.usage;
    assert.ok(usage, text);
    await waitIdle(tg, accountId);
    const key = (await limitsOf(tg, accountId)).keys.find((x: any) => x.id === k.body.id);
    assert.equal(key.tokens_per_minute.used, usage.prompt_tokens + usage.completion_tokens);
    assert.equal(key.requests_per_minute.used, 1);
  });

  test('tpm: billed tokens count; 429 rate_limit_exceeded with the token trio until they leave the window', async () => {
    const { key, accountId } = await tg.customer({ plan: 'tpm' });
    const clock = fakeClock(tg, Date.UTC(2030, 0, 2, 8, 0, 0));
    up.behave({ promptTokens: 700, completionTokens: 400 });
    try {
      let r = await chat(tg, key);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-ratelimit-limit-tokens'), '1000');
      assert.equal(r.headers.get('x-ratelimit-remaining-tokens'), '1000');
      assert.equal(r.headers.get('x-ratelimit-reset-tokens'), '0s');
      for (const h of [...REQ_TRIO, ...SEED_TRIO]) assert.equal(r.headers.get(h), null, `${h} only with an rpm limit`);
      await waitIdle(tg, accountId);
      clock.advance(15_000);
      r = await chat(tg, key);
      const e = expectError(r, rate429('rate_limit_exceeded'));
      assert.match(e.message, /1100 of 1000 tokens per minute/);
      assert.equal(r.headers.get('retry-after'), '45');
      assert.equal(r.headers.get('x-ratelimit-remaining-tokens'), '0');
      assert.equal(r.headers.get('x-ratelimit-reset-tokens'), '45s');
      clock.advance(45_000);
      assert.equal((await chat(tg, key)).status, 200);
    } finally {
      up.behave({});
      clock.restore();
    }
  });

  test('daily tokens per account (UTC day): 429 daily_token_limit_exceeded until midnight', async () => {
    const { key, accountId } = await tg.customer({ plan: 'daily' });
    const clock = fakeClock(tg, Date.UTC(2030, 0, 3, 23, 58, 30));
    up.behave({ promptTokens: 3000, completionTokens: 2500 });
    try {
      assert.equal((await chat(tg, key)).status, 200);
      await waitIdle(tg, accountId);
      // a second key of the same account shares the account's daily allowance
      const k2 = await tg.admin('POST', `/accounts/${accountId}/keys`, {});
      const r = await chat(tg, k2.body.key);
      const e = expectError(r, rate429('daily_token_limit_exceeded'));
      assert.match(e.message, /5500 of 5000 tokens used today/);
      assert.match(e.message, /2030-01-04T00:00:00\.000Z/);
      assert.equal(r.headers.get('retry-after'), '90');
      const view = await limitsOf(tg, accountId);
      assert.deepEqual(view.daily_tokens, { limit: 5000, used: 5500, remaining: 0, resets_at: '2030-01-04T00:00:00.000Z' });
      clock.set(Date.UTC(2030, 0, 4, 0, 0, 0));
      assert.equal((await chat(tg, key)).status, 200);
    } finally {
      up.behave({});
      clock.restore();
    }
  });

  test("a key's daily_tokens override caps that key alone", async () => {
    const { accountId } = await tg.customer({ plan: 'open' });
    const k = await tg.admin('POST', `/accounts/${accountId}/keys`, { daily_tokens: 100 });
    const other = await tg.admin('POST', `/accounts/${accountId}/keys`, {});
    up.behave({ promptTokens: 80, completionTokens: 30 });
    try {
      assert.equal((await chat(tg, k.body.key)).status, 200);
      await waitIdle(tg, accountId);
      const e = expectError(await chat(tg, k.body.key), rate429('daily_token_limit_exceeded'));
      assert.match(e.message, /110 of 100 tokens used today \(UTC\) by this API key/);
      assert.equal((await chat(tg, other.body.key)).status, 200);
    } finally {
      up.behave({});
    }
  });

  test('a daily limit hours from its reset says x-should-retry: false, so the OpenAI SDK does not retry it', async () => {
    // The SDKs retry a 429 at once when its Retry-After is over a minute: two more
    // refusals, seconds of backoff, and nothing else, for a limit that resets at midnight.
    const { key, accountId } = await tg.customer({ plan: 'daily' });
    const clock = fakeClock(tg, Date.UTC(2030, 0, 6, 12, 0, 0));
    up.behave({ promptTokens: 3000, completionTokens: 2500 });
    try {
      assert.equal((await chat(tg, key)).status, 200);
      await waitIdle(tg, accountId);
      const r = await chat(tg, key);
      expectError(r, rate429('daily_token_limit_exceeded'));
      assert.equal(r.headers.get('retry-after'), '43200');
      assert.equal(r.headers.get('x-should-retry'), 'false');
      const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 2 });
      const t0 = performance.now();
      await assert.rejects(client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }), { status: 429 });
      assert.ok(performance.now() - t0 < 400, 'no backoff, no retry');
      await tg.gw.rt.journal.flush();
      const log = (await tg.admin('GET', `/requests?account_id=${accountId}&limit=10`)).body.data as any[];
      assert.equal(log.filter((row) => row.error_code === 'daily_token_limit_exceeded').length, 2, 'one refusal each, not three for the SDK');
      // Within the minute an SDK waits out a Retry-After, a retry is worth it.
      clock.set(Date.UTC(2030, 0, 6, 23, 59, 30));
      const near = await chat(tg, key);
      expectError(near, rate429('daily_token_limit_exceeded'));
      assert.equal(near.headers.get('retry-after'), '30');
      assert.equal(near.headers.get('x-should-retry'), null);
    } finally {
      up.behave({});
      clock.restore();
    }
  });

  test('the checks run in order: allowlist, context, concurrency, rpm, tpm, daily', async () => {
    const { key, accountId } = await tg.customer({ plan: 'all' });
    const clock = fakeClock(tg, Date.UTC(2030, 0, 5, 10, 0, 0));
    try {
      expectError(await chat(tg, key, { model: 'small-ctx', messages: [{ role: 'user', content: textOfTokens(2000) }] }), { status: 403, type: 'permission_error', code: 'model_not_available', param: 'model' });
      assert.equal((await chat(tg, key)).status, 200); // uses the 1 rpm and bills > 1 token
      await waitIdle(tg, accountId);
      up.behave({ hang: true });
      await tg.admin('PATCH', '/plans/all', { rpm: null, tpm: null, daily_tokens: null });
      const held = await holdInFlight(tg, up, key, 1);
      await tg.admin('PATCH', '/plans/all', { rpm: 1, tpm: 1, daily_tokens: 1 });
      expectError(await chat(tg, key), rate429('concurrency_limit_exceeded'));
      await held.abort();
      await waitIdle(tg, accountId);
      up.behave({});
      expectError(await chat(tg, key), rate429('rate_limit_exceeded'));
      await tg.admin('PATCH', '/plans/all', { rpm: null });
      const e = expectError(await chat(tg, key), rate429('rate_limit_exceeded'));
      assert.match(e.message, /tokens per minute/);
      await tg.admin('PATCH', '/plans/all', { tpm: null });
      expectError(await chat(tg, key), rate429('daily_token_limit_exceeded'));
      await tg.admin('PATCH', '/plans/all', { daily_tokens: null });
      assert.equal((await chat(tg, key)).status, 200);
    } finally {
      up.behave({});
      clock.restore();
    }
  });

  test('a suspended account gets 402 account_suspended before any limit (403, 413, 429), and uses none of its rate window', async () => {
    const { key, accountId } = await tg.customer({ plan: 'rpm3' });
    for (let i = 0; i < 3; i++) assert.equal((await chat(tg, key)).status, 200);
    expectError(await chat(tg, key), rate429('rate_limit_exceeded'));
    assert.equal((await tg.admin('PATCH', `/accounts/${accountId}`, { suspended: true, plan: 'basic' })).status, 200);
    const before = calls();
    const suspended = { status: 402, type: 'insufficient_quota', code: 'account_suspended', param: null };
    expectError(await chat(tg, key, { model: 'deepseek-v4-pro' }), suspended); // not in Basic: was 403
    expectError(await chat(tg, key, { messages: [{ role: 'user', content: textOfTokens(130_000) }] }), suspended); // over 128K: was 413
    assert.equal((await tg.admin('PATCH', `/accounts/${accountId}`, { plan: 'rpm3' })).status, 200);
    expectError(await chat(tg, key), suspended); // rpm used up: was 429
    assert.equal(calls(), before, 'the upstream was not called');
    // Refusals while suspended use none of the window: reactivated, all 3 requests are left.
    const fresh = await tg.customer({ plan: 'rpm3' });
    assert.equal((await tg.admin('PATCH', `/accounts/${fresh.accountId}`, { suspended: true })).status, 200);
    for (let i = 0; i < 5; i++) expectError(await chat(tg, fresh.key), suspended);
    assert.equal((await tg.admin('PATCH', `/accounts/${fresh.accountId}`, { suspended: false })).status, 200);
    const ok = await chat(tg, fresh.key);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('x-ratelimit-remaining-requests'), '2');
  });

  test('changes apply to the next request: plan edits, plan assignment, key overrides', async () => {
    const { key, accountId, keyId } = await tg.customer({ plan: 'basic' });
    expectError(await chat(tg, key, { model: 'deepseek-v4-pro' }), { status: 403, type: 'permission_error', code: 'model_not_available', param: 'model' });
    assert.equal((await tg.admin('PATCH', `/accounts/${accountId}`, { plan: 'pro' })).status, 200);
    assert.equal((await chat(tg, key, { model: 'deepseek-v4-pro' })).status, 200);
    // a key override narrows the models, then tightens rpm; removing it restores the plan's
    let p = await tg.admin('PATCH', `/keys/${keyId}`, { models: ['deepseek-v4-flash'] });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    expectError(await chat(tg, key, { model: 'deepseek-v4-pro' }), { status: 403, type: 'permission_error', code: 'model_not_available', param: 'model' });
    // one request of this key is in the last minute; rpm 2 leaves room for one more
    p = await tg.admin('PATCH', `/keys/${keyId}`, { overrides: { rpm: 2 } });
    assert.deepEqual(p.body.overrides, { rpm: 2 }, 'overrides: {...} replaces them all');
    assert.equal((await chat(tg, key, { model: 'deepseek-v4-pro' })).status, 200);
    const r = await chat(tg, key);
    expectError(r, rate429('rate_limit_exceeded'));
    assert.match(JSON.parse(r.text).error.message, /key override/);
    p = await tg.admin('PATCH', `/keys/${keyId}`, { rpm: null });
    assert.equal(p.body.overrides, null);
    assert.equal((await chat(tg, key)).status, 200);
    // a plan edited through the API applies at once
    await tg.admin('PATCH', `/accounts/${accountId}`, { plan: 'rpm3' });
    await tg.admin('PATCH', '/plans/rpm3', { models: ['deepseek-v4-pro'] });
    expectError(await chat(tg, key), { status: 403, type: 'permission_error', code: 'model_not_available', param: 'model' });
    await tg.admin('PATCH', '/plans/rpm3', { models: null });
  });

  test('GET /v1/models lists only what the plan and the key allow', async () => {
    const ids = async (key: string) => JSON.parse((await get(`${tg.url}/v1/models`, { key })).text).data.map((m: any) => m.id).sort();
    const basic = await tg.customer({ plan: 'basic' });
    assert.deepEqual(await ids(basic.key), ['deepseek-v4-flash']);
    expectError(await get(`${tg.url}/v1/models/deepseek-v4-pro`, { key: basic.key }), { status: 404, type: 'invalid_request_error', code: 'model_not_found', param: 'model' });
    assert.equal((await get(`${tg.url}/v1/models/deepseek-v4-flash`, { key: basic.key })).status, 200);
    const pro = await tg.customer({ plan: 'pro' });
    assert.deepEqual(await ids(pro.key), ['deepseek-v4-flash', 'deepseek-v4-pro']);
    const max = await tg.customer({ plan: 'max' });
    assert.deepEqual(await ids(max.key), ['deepseek-v4-flash', 'deepseek-v4-pro'], "'deepseek-*' matches both, not small-ctx (owned by deepseek, id small-ctx)");
    await tg.admin('PATCH', `/keys/${pro.keyId}`, { models: ['*-pro'] });
    assert.deepEqual(await ids(pro.key), ['deepseek-v4-pro']);
    const open = await tg.customer({ plan: 'open' });
    assert.deepEqual(await ids(open.key), ['ctx-8k', 'deepseek-v4-flash', 'deepseek-v4-pro', 'embed-small', 'small-ctx']);
  });

  test('refusals before the rate checks carry the key\'s current rate headers', async () => {
    const { key } = await tg.customer({ plan: 'rpm3' });
    await tg.admin('PATCH', '/plans/rpm3', { models: ['deepseek-v4-flash'] });
    try {
      const r = await chat(tg, key, { model: 'deepseek-v4-pro' });
      assert.equal(r.status, 403);
      assert.equal(r.headers.get('x-ratelimit-limit-requests'), '3');
      assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '3');
      assert.equal(r.headers.get('x-ratelimit-reset-requests'), '0s');
    } finally {
      await tg.admin('PATCH', '/plans/rpm3', { models: null });
    }
  });

  test('embeddings: allowlist and per-input context window', async () => {
    const { key } = await tg.customer({ plan: 'open' });
    const emb = (input: unknown) => fetch(`${tg.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'embed-small', input }) });
    assert.equal((await emb(['a', 'b'])).status, 200);
    const r = await emb(['short', textOfTokens(9000)]);
    const text = await r.text();
    assert.equal(r.status, 413, text);
    assert.match(JSON.parse(text).error.message, /Input 1 has more than 8191 tokens/);
    // many inputs, each within the window, are fine even when their sum is not
    assert.equal((await emb([textOfTokens(5000), textOfTokens(5000)])).status, 200);
    const { key: basic } = await tg.customer({ plan: 'basic' });
    const b = await fetch(`${tg.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${basic}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'embed-small', input: 'x' }) });
    assert.equal(b.status, 403);
  });
});

test('daily usage survives a restart: it is reloaded from the request log', async () => {
  // (the limits are rebuilt from the same store, as at a restart)
  const up = await startFakeOpenAI({ promptTokens: 4000, completionTokens: 2000 });
  const tg = await startTestGateway({ config: limitsConfig(up.baseUrl, [{ id: 'daily', daily_tokens: 5000 }]) });
  try {
    const { key, accountId } = await tg.customer({ plan: 'daily' });
    assert.equal((await chat(tg, key)).status, 200);
    await tg.gw.rt.journal.flush();
    // Yesterday's last request does not count; today's rows are found by their ids.
    const { requestIdFloor } = await import('../../src/gateway/request-id.ts');
    const dayStart = Math.floor(Date.now() / DAY) * DAY;
    await tg.gw.rt.db.insertInto('requests').values({
      id: `${requestIdFloor(dayStart - 1)}0000000000000000`, created_at: BigInt(dayStart - 1), account_id: accountId, key_id: null, endpoint: 'chat', status: 200,
      stream: 0, prompt_tokens: 999, cached_tokens: 0, cache_write_tokens: 0, completion_tokens: 1, latency_ms: 1, failover: 0,
    }).execute();
    const { createLimits } = await import('../../src/limits/create.ts');
    const fresh = await createLimits(tg.gw.rt.config, tg.gw.rt.db, tg.gw.rt.log);
    const view = fresh.describe({ id: accountId, plan: 'daily' }, 0, []) as any;
    assert.equal(view.daily_tokens.used, 6000);
    assert.ok(Date.parse(view.daily_tokens.resets_at) - Date.now() <= DAY);
  } finally {
    await tg.close();
    await up.close();
  }
});

test('default_plan may name a plan created through the admin API; one that exists nowhere stops the start', async () => {
  const up = await startFakeOpenAI();
  const tg = await startTestGateway({ config: limitsConfig(up.baseUrl) });
  try {
    assert.equal((await tg.admin('POST', '/plans', { id: 'from-api', rpm: 7 })).status, 201);
    const { createLimits } = await import('../../src/limits/create.ts');
    const { ConfigError } = await import('../../src/config/load.ts');
    // (the limits are built from the store at every start, as here)
    const fresh = await createLimits({ ...tg.gw.rt.config, default_plan: 'from-api' }, tg.gw.rt.db, tg.gw.rt.log);
    assert.equal(fresh.plans.get('from-api')?.rpm, 7);
    await assert.rejects(createLimits({ ...tg.gw.rt.config, default_plan: 'gold' }, tg.gw.rt.db, tg.gw.rt.log), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /default_plan: no plan has that id/);
      assert.ok(!err.message.includes('gold'), 'the value is not quoted (it may come from the environment)');
      return true;
    });
  } finally {
    await tg.close();
    await up.close();
  }
});

test('a request whose usage report is not believed counts its reservation against tokens per minute and per day, as it is charged', async () => {
  const up = await startFakeOpenAI();
  const tg = await startTestGateway({ config: limitsConfig(up.baseUrl, [{ id: 'metered', tpm: 1_000_000, daily_tokens: 10_000_000 }]) });
  try {
    const { key, keyId, accountId } = await tg.customer({ plan: 'metered' });
    // A count that is not a whole number cannot be true: the request is charged its reservation.
    up.behave({ usage: { prompt_tokens: 9, completion_tokens: 2.5, total_tokens: 11.5 } });
    const r = await chat(tg, key, { max_tokens: 5000 });
    assert.equal(r.status, 200, r.text);
    await waitIdle(tg, accountId);
    const charge = (await tg.admin('GET', `/accounts/${accountId}/ledger`)).body.data.find((e: any) => e.kind === 'charge');
    assert.equal(charge.detail.usage_rejected, true);
    const limits = await limitsOf(tg, accountId);
    const tpm = limits.keys.find((k: any) => k.id === keyId).tokens_per_minute;
    assert.ok(tpm.used > 5000, JSON.stringify(tpm));
    assert.equal(limits.daily_tokens.used, tpm.used);
    // A restart reloads the day from the request log, where the request is logged as the
    // tokens it was charged for; it used to be logged as 0, and the day came back.
    await tg.gw.rt.journal.flush();
    const { createLimits } = await import('../../src/limits/create.ts');
    const fresh = await createLimits(tg.gw.rt.config, tg.gw.rt.db, tg.gw.rt.log);
    const view = fresh.describe({ id: accountId, plan: 'metered' }, 0, []) as any;
    assert.equal(view.daily_tokens.used, limits.daily_tokens.used);
  } finally {
    await tg.close();
    await up.close();
  }
});

test('a request refused for its balance (402) uses up nothing of requests per minute or concurrency', async () => {
  const up = await startFakeOpenAI();
  const tg = await startTestGateway({ config: limitsConfig(up.baseUrl, [{ id: 'rpm5', rpm: 5, concurrency: 1 }]) });
  try {
    const { key, accountId } = await tg.customer({ plan: 'rpm5', creditUsd: '0' });
    for (let i = 0; i < 8; i++) {
      const r = expectError(await chat(tg, key), { status: 402, type: 'insufficient_quota', code: 'insufficient_funds', param: null });
      assert.ok(r);
    }
    const last = await chat(tg, key);
    assert.equal(last.status, 402);
    assert.equal(last.headers.get('x-ratelimit-remaining-requests'), '5', 'the refusals took nothing from the minute');
    assert.equal((await limitsOf(tg, accountId)).concurrency.in_flight, 0);
    await tg.admin('POST', `/accounts/${accountId}/credits`, { amount_usd: '1' });
    const ok = await chat(tg, key);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.headers.get('x-ratelimit-remaining-requests'), '4');
  } finally {
    await tg.close();
    await up.close();
  }
});

test('a request refused before any upstream saw it (no route can send a field, every route paused) uses up nothing of the minute', async () => {
  const up = await startFakeOpenAI();
  const an = await startFakeAnthropic();
  const tg = await startTestGateway({
    config: {
      providers: [
        { id: 'p1', kind: 'openai', base_url: up.baseUrl, api_key: 'sk-up-1', breaker: { failures: 1, cooldown_ms: 600_000 } },
        { id: 'an', kind: 'anthropic', base_url: an.baseUrl, api_key: 'sk-ant-upstream' },
      ],
      models: [
        { id: 'm', upstreams: [{ provider: 'p1', model: 'u1' }], pricing: { input: '1', output: '1' } },
        { id: 'claude', upstreams: [{ provider: 'an', model: 'claude-sonnet-4-5-20250929' }], pricing: { input: '1', output: '1' } },
      ],
      plans: [{ id: 'r3', rpm: 3 }],
    },
  });
  try {
    const a = await tg.customer({ plan: 'r3' });
    // n: 2 cannot be sent to Anthropic: a 400 before any call.
    for (let i = 0; i < 4; i++) {
      const r = await post(`${tg.url}/v1/chat/completions`, { model: 'claude', n: 2, messages: [{ role: 'user', content: 'hi' }] }, { key: a.key });
      expectError(r, { status: 400, type: 'invalid_request_error', code: 'unsupported_parameter', param: 'n' });
      assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '3');
    }
    assert.equal(an.requests.length, 0);
    const ok = await post(`${tg.url}/v1/chat/completions`, { model: 'claude', messages: [{ role: 'user', content: 'hi' }] }, { key: a.key });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.headers.get('x-ratelimit-remaining-requests'), '2');

    // One upstream 500 pauses the only route; the 503s after it reach no upstream.
    const b = await tg.customer({ plan: 'r3' });
    up.behave({ status: 500 });
    const failed = await post(`${tg.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'hi' }] }, { key: b.key });
    assert.equal(failed.status, 502, failed.text);
    assert.equal(failed.headers.get('x-ratelimit-remaining-requests'), '2', 'a request that reached the upstream counts');
    const calls = up.requests.length;
    for (let i = 0; i < 4; i++) {
      const r = await post(`${tg.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'hi' }] }, { key: b.key });
      expectError(r, { status: 503, type: 'api_error', code: 'upstreams_unavailable', param: null });
      assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '2');
    }
    assert.equal(up.requests.length, calls);
    const view = await limitsOf(tg, b.accountId);
    assert.equal(view.concurrency.in_flight, 0);
  } finally {
    await tg.close();
    await up.close();
    await an.close();
  }
});
