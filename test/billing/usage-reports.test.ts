import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { usdToPico } from '../../src/billing/money.ts';
import { countChatInputTokens, countEmbeddingInputTokens, countTextTokens } from '../../src/limits/token-count.ts';

// Usage reports that cannot be true, or no report at all, in every wire protocol,
// streamed and not.
// - A count that is negative, not a whole number, not a number at all, or past what
//   JSON's numbers hold (1e400 reads as Infinity) once became 0 or was floored before
//   billing saw it, so the request was charged $0 or less than it used. Each must now be
//   charged its reservation, with `usage_rejected` in the ledger. A believable report
//   beside them is charged as metered, so the cases cannot pass by rejecting everything.
// - An answer with no usage report (or one without the counts its format always
//   carries) was free unless it was a stream. Each is now billed by estimate: the prompt
//   and the answer's text counted with the tokenizer, `usage_estimated` in the ledger.

type Wire = 'openai' | 'anthropic' | 'gemini';

/** USD per 1M tokens: 1 in, 2 out; per token 1,000,000 and 2,000,000 pUSD. */
const PRICING = { input: '1', output: '2' };

/** The answer every upstream gives here. */
const TEXT = 'A fine answer, long enough to count.';

/**
 * An answer of `wire` in its own format, carrying `usage` (JSON text, so 1e400 can be
 * written), or no usage at all when it is null.
 */
function answer(wire: Wire, stream: boolean, usage: string | null): { rawBody: string; contentType: string } {
  const sse = (events: string[]) => ({ rawBody: events.join(''), contentType: 'text/event-stream' });
  const member = (name: string) => (usage === null ? '' : `,"${name}":${usage}`);
  const text = JSON.stringify(TEXT);
  if (wire === 'openai') {
    const chunk = (delta: string, finish: string | null) => `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":${delta},"finish_reason":${finish}}]}\n\n`;
    if (!stream) return { rawBody: `{"id":"c1","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":${text}},"finish_reason":"stop"}]${member('usage')}}`, contentType: 'application/json' };
    const usageFrame = usage === null ? [] : [`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up","choices":[],"usage":${usage}}\n\n`];
    return sse([chunk(`{"role":"assistant","content":${text}}`, 'null'), chunk('{}', '"stop"'), ...usageFrame, 'data: [DONE]\n\n']);
  }
  if (wire === 'anthropic') {
    if (!stream) return { rawBody: `{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":${text}}],"stop_reason":"end_turn","stop_sequence":null${member('usage')}}`, contentType: 'application/json' };
    // The whole usage on message_start; message_delta repeats its output count.
    const output = usage === null ? undefined : /"output_tokens":([^,}]+)/.exec(usage)?.[1];
    const ev = (name: string, data: string) => `event: ${name}\ndata: ${data}\n\n`;
    return sse([
      ev('message_start', `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null${member('usage')}}}`),
      ev('content_block_start', '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'),
      ev('content_block_delta', `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":${text}}}`),
      ev('message_delta', `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null}${output === undefined ? '' : `,"usage":{"output_tokens":${output}}`}}`),
      ev('message_stop', '{"type":"message_stop"}'),
    ]);
  }
  const body = `{"candidates":[{"content":{"role":"model","parts":[{"text":${text}}]},"finishReason":"STOP","index":0}]${member('usageMetadata')},"modelVersion":"gem","responseId":"r1"}`;
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
/** Reports without a count their format always carries: no report at all, as far as billing goes. */
const INCOMPLETE: Record<Wire, string[]> = {
  openai: ['{"total_tokens":50}', '{"prompt_tokens":10,"total_tokens":10}', '{}', '[1,2]'],
  anthropic: ['{"output_tokens":5}', '{"input_tokens":7}'],
  gemini: ['{"totalTokenCount":10}', '{"candidatesTokenCount":3}'],
};
const BELIEVABLE: Record<Wire, string> = {
  openai: '{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}',
  anthropic: '{"input_tokens":7,"output_tokens":3}',
  gemini: '{"promptTokenCount":7,"candidatesTokenCount":3,"totalTokenCount":10}',
};

describe('usage reports that cannot be true, and answers with none', () => {
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
        models: [
          ...(['openai', 'anthropic', 'gemini'] as const).map((wire) => ({ id: `m-${wire}`, upstreams: [{ provider: wire, model: `up-${wire}` }], pricing: PRICING })),
          { id: 'm-embed', type: 'embedding', upstreams: [{ provider: 'openai', model: 'up-embed' }], pricing: PRICING },
        ],
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

  const params = (wire: Wire) => ({ model: `m-${wire}`, max_tokens: 10, messages: [{ role: 'user' as const, content: 'hi' }] });

  /** The ledger charge and request log row of a request. */
  const recordOf = async (id: string) => {
    await tg.gw.rt.journal.flush();
    const charge = (await tg.admin('GET', `/accounts/${accountId}/ledger?limit=1000`)).body.data.find((e: any) => e.kind === 'charge' && e.request_id === id);
    assert.ok(charge, `a charge for ${id}`);
    const row = (await tg.admin('GET', `/requests?account_id=${accountId}&limit=1000`)).body.data.find((r: any) => r.id === id);
    assert.ok(row, `a request log row for ${id}`);
    return { charge, row };
  };

  /**
   * Sends one request answered with `usage`; returns its ledger charge and request log
   * row, and what the client was told: the usage (the stream's usage frame, if any) and
   * the response headers.
   */
  const run = async (wire: Wire, stream: boolean, usage: string | null) => {
    up.behave(answer(wire, stream, usage));
    let id: string;
    let told: any = null;
    let headers: Headers;
    if (stream) {
      const { data, response } = await client.chat.completions.create({ ...params(wire), stream: true, stream_options: { include_usage: true } }).withResponse();
      let text = '';
      for await (const c of data) {
        text += c.choices[0]?.delta?.content ?? '';
        if (c.usage) told = c.usage;
      }
      assert.equal(text, TEXT);
      id = response.headers.get('x-request-id')!;
      headers = response.headers;
    } else {
      const { data, response } = await client.chat.completions.create(params(wire)).withResponse();
      assert.equal(data.choices[0]!.message.content, TEXT);
      told = data.usage ?? null;
      id = response.headers.get('x-request-id')!;
      headers = response.headers;
    }
    return { ...(await recordOf(id)), told, headers };
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
          // Logged as the tokens it was charged for, the reservation's (input at $1/M,
          // output at $2/M): what a restart reloads today's token limits from.
          assert.equal(row.completion_tokens, 10, 'all the output the request could have had');
          assert.ok(row.prompt_tokens > 0);
          assert.equal(BigInt(row.prompt_tokens) * 1_000_000n + BigInt(row.completion_tokens) * 2_000_000n, reserved, 'the logged tokens are what was charged');
        });
      }
      test(`${label}: a believable report is charged as metered`, async () => {
        const { charge } = await run(wire, stream, BELIEVABLE[wire]);
        assert.equal(charge.detail.usage_rejected, undefined);
        assert.equal(-usdToPico(charge.amount_usd), 7n * 1_000_000n + 3n * 2_000_000n);
      });
    }
  }

  // What the tokenizer makes of the prompt and of the answer.
  const estimate = (wire: Wire) => ({ prompt: countChatInputTokens(params(wire)), completion: countTextTokens(TEXT) });

  for (const wire of ['openai', 'anthropic', 'gemini'] as const) {
    for (const stream of [false, true]) {
      const label = `${wire}${stream ? ', streamed' : ''}`;
      for (const usage of [null, ...INCOMPLETE[wire]]) {
        test(`${label}, ${usage === null ? 'no usage at all' : `usage ${usage}`}: billed by estimate`, async () => {
          const { charge, row, told, headers } = await run(wire, stream, usage);
          const { prompt, completion } = estimate(wire);
          assert.ok(completion >= 8, 'the answer is several tokens long');
          const cost = BigInt(prompt) * 1_000_000n + BigInt(completion) * 2_000_000n;
          assert.equal(charge.detail.usage_estimated, true);
          assert.equal(charge.detail.usage_rejected, undefined);
          assert.equal(-usdToPico(charge.amount_usd), cost);
          assert.deepEqual([row.prompt_tokens, row.completion_tokens], [prompt, completion]);
          if (stream) {
            // The stream has ended when the estimate is made: no usage frame of the
            // gateway's tells of it (an incomplete one of the upstream's passes as it came).
            assert.equal(told?.cost, undefined);
            if (usage === null) assert.equal(told, null);
          } else {
            assert.deepEqual([told.prompt_tokens, told.completion_tokens, told.total_tokens], [prompt, completion, prompt + completion]);
            assert.equal(usdToPico(told.cost), cost);
            assert.equal(told.estimated, true);
            assert.equal(usdToPico(headers.get('x-tollgate-cost')!), cost);
            assert.equal(headers.get('x-tollgate-usage-estimated'), 'true');
          }
        });
      }
    }
  }

  test('a reported answer is not marked estimated', async () => {
    const { told, headers } = await run('openai', false, BELIEVABLE.openai);
    assert.equal(told.estimated, undefined);
    assert.equal(headers.get('x-tollgate-usage-estimated'), null);
  });

  test('an answer with tool calls and reasoning is counted whole, not only its content', async () => {
    const args = JSON.stringify({ location: 'San Francisco, CA', unit: 'celsius', days: [1, 2, 3, 4, 5] });
    const reasoning = 'The user wants the weather; I should call the weather tool for San Francisco.';
    const message = { role: 'assistant', content: 'Let me check.', reasoning_content: reasoning, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: args } }] };
    up.behave({ rawBody: JSON.stringify({ id: 'x', choices: [{ index: 0, message, finish_reason: 'tool_calls' }] }) });
    const { data, response } = await client.chat.completions.create(params('openai')).withResponse();
    const { charge } = await recordOf(response.headers.get('x-request-id')!);
    // Counted in the order a stream's deltas are: content, reasoning, then each call's name and arguments.
    const completion = countTextTokens(`Let me check.${reasoning}get_weather${args}`);
    assert.ok(completion > countTextTokens('Let me check.') + 30);
    assert.equal(charge.detail.completion_tokens, completion);
    assert.equal(charge.detail.usage_estimated, true);
    assert.equal(data.usage!.completion_tokens, completion);
  });

  for (const usage of [null, '{"total_tokens":9}']) {
    test(`embeddings with ${usage === null ? 'no usage' : `usage ${usage}`}: the input is counted`, async () => {
      up.behave({ rawBody: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"up-embed"${usage === null ? '' : `,"usage":${usage}`}}` });
      const body = { model: 'm-embed', input: ['The quick brown fox jumps over the lazy dog.'], encoding_format: 'float' as const };
      const { data, response } = await client.embeddings.create(body).withResponse();
      const prompt = countEmbeddingInputTokens(body);
      assert.ok(prompt >= 8);
      const cost = BigInt(prompt) * 1_000_000n;
      const { charge } = await recordOf(response.headers.get('x-request-id')!);
      assert.equal(charge.detail.usage_estimated, true);
      assert.equal(-usdToPico(charge.amount_usd), cost);
      assert.equal(charge.detail.prompt_tokens, prompt);
      assert.deepEqual(data.usage, { prompt_tokens: prompt, total_tokens: prompt, cost: (data.usage as any).cost, estimated: true });
      assert.equal(usdToPico((data.usage as any).cost), cost);
      assert.equal(response.headers.get('x-tollgate-usage-estimated'), 'true');
    });
  }

  test('embeddings with a usage report are charged as reported, and not marked estimated', async () => {
    up.behave({ rawBody: '{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"up-embed","usage":{"prompt_tokens":3,"total_tokens":3}}' });
    const { data, response } = await client.embeddings.create({ model: 'm-embed', input: ['x'], encoding_format: 'float' }).withResponse();
    const { charge } = await recordOf(response.headers.get('x-request-id')!);
    assert.equal(-usdToPico(charge.amount_usd), 3n * 1_000_000n);
    assert.equal(charge.detail.usage_estimated, undefined);
    assert.equal((data.usage as any).estimated, undefined);
  });

  test('the balance equals the ledger after all of them', async () => {
    assert.deepEqual((await tg.admin('GET', '/ledger/verify')).body, { ok: true, mismatches: [] });
    assert.equal((await tg.admin('GET', `/accounts/${accountId}`)).body.reserved_usd, '0.00');
  });
});
