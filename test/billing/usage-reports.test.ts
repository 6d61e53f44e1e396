import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { usdToPico } from '../../src/billing/money.ts';

// Usage reports that cannot be true, in every wire protocol, streamed and not: a count
// that is negative, not a whole number, not a number at all, or past what JSON's numbers
// hold (1e400 reads as Infinity). Each once became 0 or was floored before billing saw
// it, so the request was charged $0 or less than it used. Each must now be charged its
// reservation, with `usage_rejected` in the ledger. A believable report beside them is
// charged as metered, so the cases cannot pass by rejecting everything.

type Wire = 'openai' | 'anthropic' | 'gemini';

/** USD per 1M tokens: 1 in, 2 out; per token 1,000,000 and 2,000,000 pUSD. */
const PRICING = { input: '1', output: '2' };

/** An answer of `wire` in its own format, carrying `usage` (JSON text, so 1e400 can be written). */
function answer(wire: Wire, stream: boolean, usage: string): { rawBody: string; contentType: string } {
  const sse = (events: string[]) => ({ rawBody: events.join(''), contentType: 'text/event-stream' });
  if (wire === 'openai') {
    const chunk = (delta: string, finish: string | null) => `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":${delta},"finish_reason":${finish}}]}\n\n`;
    if (!stream) return { rawBody: `{"id":"c1","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"fine"},"finish_reason":"stop"}],"usage":${usage}}`, contentType: 'application/json' };
    return sse([chunk('{"role":"assistant","content":"fine"}', 'null'), chunk('{}', '"stop"'), `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up","choices":[],"usage":${usage}}\n\n`, 'data: [DONE]\n\n']);
  }
  if (wire === 'anthropic') {
    if (!stream) return { rawBody: `{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"fine"}],"stop_reason":"end_turn","stop_sequence":null,"usage":${usage}}`, contentType: 'application/json' };
    // The whole usage on message_start; message_delta repeats its output count.
    const output = /"output_tokens":([^,}]+)/.exec(usage)![1];
    const ev = (name: string, data: string) => `event: ${name}\ndata: ${data}\n\n`;
    return sse([
      ev('message_start', `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"usage":${usage}}}`),
      ev('content_block_start', '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'),
      ev('content_block_delta', '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"fine"}}'),
      ev('message_delta', `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":${output}}}`),
      ev('message_stop', '{"type":"message_stop"}'),
    ]);
  }
  const body = `{"candidates":[{"content":{"role":"model","parts":[{"text":"fine"}]},"finishReason":"STOP","index":0}],"usageMetadata":${usage},"modelVersion":"gem","responseId":"r1"}`;
  return stream ? sse([`data: ${body}\r\n\r\n`]) : { rawBody: body, contentType: 'application/json' };
}

/** Reports that cannot be true, and one believable report (prompt 7, completion 3) per wire. */
const IMPOSSIBLE: Record<Wire, string[]> = {
  openai: [
    '{"prompt_tokens":-5,"completion_tokens":3,"total_tokens":-2}',
    '{"prompt_tokens":"500","completion_tokens":3,"total_tokens":503}',
    '{"prompt_tokens":7,"completion_tokens":10.5,"total_tokens":17.5}',
    '{"prompt_tokens":1e400,"completion_tokens":3}',
    '{"prompt_tokens":50,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":"40"},"prompt_cache_hit_tokens":0}',
    '{"prompt_tokens":7,"completion_tokens":3,"completion_tokens_details":{"reasoning_tokens":-1}}',
  ],
  anthropic: [
    '{"input_tokens":"7","output_tokens":3}',
    '{"input_tokens":-5,"cache_read_input_tokens":12,"output_tokens":3}',
    '{"input_tokens":7,"output_tokens":3.5}',
    '{"input_tokens":7,"output_tokens":1e400}',
  ],
  gemini: [
    '{"promptTokenCount":7,"candidatesTokenCount":"3","totalTokenCount":10}',
    '{"promptTokenCount":7,"candidatesTokenCount":3,"thoughtsTokenCount":-3}',
    '{"promptTokenCount":1e400,"candidatesTokenCount":3}',
    '{"promptTokenCount":7.25,"candidatesTokenCount":3}',
  ],
};
const BELIEVABLE: Record<Wire, string> = {
  openai: '{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}',
  anthropic: '{"input_tokens":7,"output_tokens":3}',
  gemini: '{"promptTokenCount":7,"candidatesTokenCount":3,"totalTokenCount":10}',
};

describe('usage reports that cannot be true are charged the reservation, in every wire and in streams', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let client: OpenAI;
  let accountId: string;

  before(async () => {
    // One upstream answers for all three wires: it replays whatever raw body it is given.
    up = await startFakeOpenAI();
    tg = await startTestGateway({
      config: {
        providers: (['openai', 'anthropic', 'gemini'] as const).map((kind) => ({ id: kind, kind, base_url: up.baseUrl, api_key: 'k' })),
        models: (['openai', 'anthropic', 'gemini'] as const).map((wire) => ({ id: `m-${wire}`, upstreams: [{ provider: wire, model: `up-${wire}` }], pricing: PRICING })),
      },
    });
    const c = await tg.customer({ creditUsd: '1' });
    accountId = c.accountId;
    client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: c.key, maxRetries: 0 });
  });
  after(async () => {
    await tg?.close();
    await up?.close();
  });

  /** Sends one request answered with `usage`; returns its ledger charge and request log row. */
  const run = async (wire: Wire, stream: boolean, usage: string) => {
    up.behave(answer(wire, stream, usage));
    const params = { model: `m-${wire}`, max_tokens: 10, messages: [{ role: 'user' as const, content: 'hi' }] };
    let id: string;
    if (stream) {
      const { data, response } = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } }).withResponse();
      let text = '';
      for await (const c of data) text += c.choices[0]?.delta?.content ?? '';
      assert.equal(text, 'fine');
      id = response.headers.get('x-request-id')!;
    } else {
      const { data, response } = await client.chat.completions.create(params).withResponse();
      assert.equal(data.choices[0]!.message.content, 'fine');
      id = response.headers.get('x-request-id')!;
    }
    await tg.gw.rt.journal.flush();
    const charge = (await tg.admin('GET', `/accounts/${accountId}/ledger?limit=1000`)).body.data.find((e: any) => e.kind === 'charge' && e.request_id === id);
    assert.ok(charge, `a charge for ${id}`);
    const row = (await tg.admin('GET', `/requests?account_id=${accountId}&limit=1000`)).body.data.find((r: any) => r.id === id);
    assert.ok(row, `a request log row for ${id}`);
    return { charge, row };
  };

  for (const wire of ['openai', 'anthropic', 'gemini'] as const) {
    for (const stream of [false, true]) {
      const label = `${wire}${stream ? ', streamed' : ''}`;
      for (const usage of IMPOSSIBLE[wire]) {
        test(`${label}: ${usage}`, async () => {
          const { charge, row } = await run(wire, stream, usage);
          assert.equal(charge.detail.usage_rejected, true);
          const reserved = usdToPico(charge.detail.reserved_usd);
          assert.ok(reserved > 0n);
          assert.equal(-usdToPico(charge.amount_usd), reserved, 'charged exactly the reservation');
          assert.equal(row.prompt_tokens, 0, 'the counts are not logged as tokens');
          assert.equal(row.completion_tokens, 0);
        });
      }
      test(`${label}: a believable report is charged as metered`, async () => {
        const { charge } = await run(wire, stream, BELIEVABLE[wire]);
        assert.equal(charge.detail.usage_rejected, undefined);
        assert.equal(-usdToPico(charge.amount_usd), 7n * 1_000_000n + 3n * 2_000_000n);
      });
    }
  }

  test('the balance equals the ledger after all of them', async () => {
    assert.deepEqual((await tg.admin('GET', '/ledger/verify')).body, { ok: true, mismatches: [] });
    assert.equal((await tg.admin('GET', `/accounts/${accountId}`)).body.reserved_usd, '0.00');
  });
});
