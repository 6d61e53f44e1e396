import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeAnthropic } from '../helpers/fake-anthropic.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { usdToPico } from '../../src/billing/money.ts';
import { countTextTokens } from '../../src/limits/token-count.ts';

// A stream cut before its final usage report (the client cancels, as coding tools do
// all the time, or the upstream fails) is billed by estimate. Anthropic reports the
// prompt's exact usage up front, in message_start: 21 fresh tokens, 188,086 written to
// the cache and 12,000 read from it here. The estimate used to count the prompt text
// instead, all at the input price: with prompt caching, ten times the price of cached
// tokens, and cache writes billed at the input price (here, on a short test prompt,
// almost nothing at all).

const PRICES = { input: '3', cached_input: '0.3', cache_write: '3.75', output: '15' };
const perToken = (usd: string) => usdToPico(usd) / 1_000_000n;

test("a cut Anthropic stream is billed for the prompt message_start reported, at the cache prices, and for the text that streamed", async (t) => {
  const fake = await startFakeAnthropic({ eventDelayMs: 150 });
  const tg = await startTestGateway({
    config: {
      providers: [{ id: 'anthropic', kind: 'anthropic', base_url: fake.baseUrl, api_key: 'sk-ant-upstream-key' }],
      models: [{ id: 'claude', upstreams: [{ provider: 'anthropic', model: 'claude-sonnet-4-5-20250929' }], pricing: PRICES }],
    },
  });
  t.after(async () => {
    await tg.close();
    await fake.close();
  });
  const { accountId, key } = await tg.customer({ creditUsd: '10' });
  const ac = new AbortController();
  const res = await fetch(`${tg.url}/v1/chat/completions`, {
    method: 'POST',
    signal: ac.signal,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude', stream: true, max_tokens: 1000, messages: [{ role: 'user', content: 'scenario:cache-usage summarise' }] }),
  });
  const reader = res.body!.getReader();
  const text = 'Pride and Prejudice explores first impressions.';
  let seen = '';
  while (!seen.includes(text)) seen += new TextDecoder().decode((await reader.read()).value);
  ac.abort();
  // The charge lands once the gateway has seen the client go and settled.
  let row: any;
  for (let i = 0; i < 100 && !row; i++) {
    await new Promise((r) => setTimeout(r, 20));
    await tg.gw.rt.journal.flush();
    row = (await tg.admin('GET', `/requests?account_id=${accountId}&limit=1`)).body.data[0];
    if (row && row.error_code !== 'client_closed') row = undefined;
  }
  assert.ok(row, 'the cut request is recorded');
  assert.equal(row.prompt_tokens, 21 + 188_086 + 12_000);
  assert.equal(row.cached_tokens, 12_000);
  assert.equal(row.cache_write_tokens, 188_086);
  const completion = countTextTokens(text);
  assert.equal(row.completion_tokens, completion);
  const charge = ((await tg.admin('GET', `/accounts/${accountId}/ledger?limit=10`)).body.data as any[]).find((e) => e.kind === 'charge');
  assert.equal(charge.detail.usage_estimated, true);
  const expected = 21n * perToken('3') + 188_086n * perToken('3.75') + 12_000n * perToken('0.3') + BigInt(completion) * perToken('15');
  assert.equal(-usdToPico(charge.amount_usd), expected);
});

// A stream that fails before any text is charged nothing on every wire, as on the
// OpenAI one: Anthropic's message_start and Gemini's first chunk report the prompt up
// front, and such a failure used to be charged that prompt for an answer of nothing.
for (const kind of ['anthropic', 'gemini'] as const) {
  test(`a ${kind} stream that fails after reporting its prompt but before any text is charged nothing`, async (t) => {
    const ev = (name: string, data: object) => `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;
    const upstream = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (kind === 'anthropic') {
        res.write(ev('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', content: [], stop_reason: null, usage: { input_tokens: 1000, output_tokens: 1 } } }));
        res.end(ev('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }));
      } else {
        res.write(`data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [] }, index: 0 }], usageMetadata: { promptTokenCount: 1000, candidatesTokenCount: 0, totalTokenCount: 1000 } })}\r\n\r\n`);
        setTimeout(() => res.socket?.destroy(), 30);
      }
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}${kind === 'gemini' ? '/v1beta' : '/v1'}`;
    const tg = await startTestGateway({
      config: {
        providers: [{ id: 'up', kind, base_url: base, api_key: 'upstream-key-123456' }],
        models: [{ id: 'm', upstreams: [{ provider: 'up', model: kind === 'gemini' ? 'gemini-2.5-flash' : 'claude-sonnet-4-5-20250929' }], pricing: PRICES }],
      },
    });
    t.after(async () => {
      await tg.close();
      await new Promise((resolve) => upstream.close(resolve));
    });
    const { accountId, key } = await tg.customer({ creditUsd: '10' });
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', stream: true, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const body = await res.text();
    assert.match(body, /"error"/, 'the client is told the stream failed');
    assert.doesNotMatch(body, /"content":"[^"]/, 'no text reached the client');
    await tg.gw.rt.journal.flush();
    const account = (await tg.admin('GET', `/accounts/${accountId}`)).body;
    assert.equal(account.balance_usd, '10.00');
    assert.equal(account.reserved_usd, '0.00');
    const row = (await tg.admin('GET', `/requests?account_id=${accountId}`)).body.data[0];
    assert.equal(row.prompt_tokens, 0);
    assert.ok(row.error_code, 'logged as failed');
  });
}
