import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { LengthFinishReasonError } from 'openai/error';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { expectError, post, sleep } from '../helpers/http.ts';
import { usdToPico } from '../../src/billing/money.ts';

// Structured output (seed 001): a non-streaming json_schema answer is validated against
// the client's schema; a miss is retried once, both attempts are charged, and a second
// miss is a 502 response_format_validation_failed naming what is wrong.

interface Answer {
  content: string | null;
  prompt: number;
  completion: number;
  /** finish_reason (default 'stop'). */
  finish?: string;
  /** A refusal in place of the content, as OpenAI's structured outputs give one. */
  refusal?: string;
}

/** An OpenAI-compatible upstream that gives the queued answers in order (the last one repeats). */
async function startScriptedUpstream() {
  let queue: Answer[] = [];
  const bodies: any[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw);
      bodies.push(body);
      const a = queue.length > 1 ? queue.shift()! : queue[0]!;
      const usage = { prompt_tokens: a.prompt, completion_tokens: a.completion, total_tokens: a.prompt + a.completion };
      const base = { id: `chatcmpl-${bodies.length}`, created: 1_734_220_000, model: body.model };
      if (body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const chunk = (delta: unknown, finish: string | null) => `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
        res.end(
          chunk({ role: 'assistant', content: '' }, null) + chunk({ content: a.content }, null) + chunk({}, 'stop') +
            `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage })}\n\ndata: [DONE]\n\n`,
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      const message = { role: 'assistant', content: a.content, ...(a.refusal !== undefined ? { refusal: a.refusal } : {}) };
      res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message, logprobs: null, finish_reason: a.finish ?? 'stop' }], usage }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    bodies,
    answer(...answers: Answer[]) {
      queue = answers;
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

const PRICES = { input: '1', output: '4' };
const costOf = (prompt: number, completion: number) => BigInt(prompt) * 1_000_000n + BigInt(completion) * 4_000_000n;

const SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' }, temperature_c: { type: 'number' } },
  required: ['city', 'temperature_c'],
  additionalProperties: false,
};
const GOOD = '{"city":"Paris","temperature_c":18}';

describe('response_format json_schema validation and retry', () => {
  let up: Awaited<ReturnType<typeof startScriptedUpstream>>;
  let tg: TestGateway;
  let key: string;
  let accountId: string;
  let client: OpenAI;

  before(async () => {
    up = await startScriptedUpstream();
    tg = await startTestGateway({
      config: {
        providers: [{ id: 'up', kind: 'openai', base_url: up.baseUrl, api_key: 'sk-upstream-secret-value-123' }],
        models: [
          { id: 'checked', upstreams: [{ provider: 'up', model: 'up-model' }], pricing: PRICES },
          { id: 'unchecked', validate_json_schema: false, upstreams: [{ provider: 'up', model: 'up-model' }], pricing: PRICES },
        ],
      },
    });
    ({ key, accountId } = await tg.customer());
    client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  const request = (model: string, extra: Record<string, unknown> = {}) => ({
    model,
    messages: [{ role: 'user', content: 'Weather in Paris as JSON' }],
    response_format: { type: 'json_schema', json_schema: { name: 'weather', strict: true, schema: SCHEMA } },
    ...extra,
  });

  const chargeOf = async (requestId: string) => {
    for (let i = 0; i < 50; i++) {
      const r = await tg.admin('GET', `/accounts/${accountId}/ledger?limit=1000`);
      const found = (r.body.data as any[]).filter((e) => e.kind === 'charge' && e.request_id === requestId);
      if (found.length) {
        assert.equal(found.length, 1, 'one charge per request');
        return found[0];
      }
      await sleep(20);
    }
    assert.fail(`no charge for ${requestId}`);
  };

  for (const [label, miss] of [
    ['misses the schema', '{"city":"Paris"}'],
    ['is not JSON at all', 'Sure! It is 18 degrees in Paris.'],
  ] as const) {
    test(`a first answer that ${label} is retried once; the second answer is returned, both attempts charged`, async () => {
      up.answer({ content: miss, prompt: 50, completion: 7 }, { content: GOOD, prompt: 50, completion: 11 });
      const n = up.bodies.length;
      const { data: r, response } = await client.chat.completions.create(request('checked') as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming).withResponse();
      assert.equal(r.choices[0]!.message.content, GOOD);
      assert.equal(response.headers.get('x-tollgate-schema-check'), 'passed');
      assert.equal(up.bodies.length, n + 2, 'exactly one retry');
      assert.deepEqual(up.bodies[n + 1], up.bodies[n], 'the retry is the same request');
      const both = costOf(100, 18);
      const charge = await chargeOf(response.headers.get('x-request-id')!);
      assert.equal(-usdToPico(charge.amount_usd), both);
      assert.equal(charge.detail.prompt_tokens, 100);
      assert.equal(charge.detail.completion_tokens, 18);
      // What the client is told it cost is what it was charged.
      assert.equal(usdToPico(response.headers.get('x-tollgate-cost')!), both);
      assert.equal(usdToPico((r.usage as any).cost), both);
    });
  }

  test('an impossible count in one attempt is not hidden in the sum of both: the request is charged its reservation', async () => {
    // -7 + 11 completion tokens would pass for a believable 4.
    up.answer({ content: '{"city":"Paris"}', prompt: 50, completion: -7 }, { content: GOOD, prompt: 50, completion: 11 });
    const { response } = await client.chat.completions.create(request('checked') as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming).withResponse();
    const charge = await chargeOf(response.headers.get('x-request-id')!);
    assert.equal(charge.detail.usage_rejected, true);
    assert.equal(-usdToPico(charge.amount_usd), usdToPico(charge.detail.reserved_usd));
    assert.equal(usdToPico(response.headers.get('x-tollgate-cost')!), usdToPico(charge.detail.reserved_usd), 'the client is told what it was charged');
  });

  test('two misses → 502 response_format_validation_failed naming the violations; both attempts charged', async () => {
    up.answer({ content: '{"city":"Paris"}', prompt: 40, completion: 5 }, { content: '{"city":42,"temperature_c":"warm","extra":true}', prompt: 40, completion: 9 });
    const n = up.bodies.length;
    const res = await post(`${tg.url}/v1/chat/completions`, request('checked'), { key });
    const e = expectError(res, { status: 502, type: 'api_error', code: 'response_format_validation_failed', param: 'response_format' });
    // The second answer's violations, as ajv words them.
    assert.match(e.message, /\/city must be string/);
    assert.match(e.message, /\/temperature_c must be number/);
    assert.match(e.message, /additional properties/);
    assert.equal(up.bodies.length, n + 2);
    const charge = await chargeOf(res.headers.get('x-request-id')!);
    assert.equal(-usdToPico(charge.amount_usd), costOf(80, 14));
  });

  test('a miss is not retried when the balance cannot cover a second attempt: 502, the first attempt charged, no overdraft', async () => {
    // $0.0012: the reservation ($0.0008 for max_tokens 200 at $4/M, + input) leaves under
    // $0.0004 free, and the first attempt costs $0.00065, which a retry could cost again.
    const poor = await tg.customer({ creditUsd: '0.0012' });
    up.answer({ content: '{"city":"Paris"}', prompt: 50, completion: 150 }, { content: GOOD, prompt: 50, completion: 150 });
    const n = up.bodies.length;
    const res = await post(`${tg.url}/v1/chat/completions`, request('checked', { max_tokens: 200 }), { key: poor.key });
    const e = expectError(res, { status: 502, type: 'api_error', code: 'response_format_validation_failed', param: 'response_format' });
    assert.match(e.message, /not retried: the balance cannot cover a second attempt/);
    assert.match(e.message, /temperature_c/);
    assert.equal(up.bodies.length, n + 1, 'no retry');
    let account: any;
    for (let i = 0; i < 50; i++) {
      account = (await tg.admin('GET', `/accounts/${poor.accountId}`)).body;
      if (account.reserved_usd === '0.00' && account.balance_usd !== '0.0012') break;
      await sleep(20);
    }
    assert.equal(usdToPico(account.balance_usd), usdToPico('0.0012') - costOf(50, 150));
    assert.ok(usdToPico(account.balance_usd) >= 0n);
    // With money for both, the same miss is retried (the other tests' account).
    up.answer({ content: '{"city":"Paris"}', prompt: 50, completion: 150 }, { content: GOOD, prompt: 50, completion: 150 });
    const ok = await post(`${tg.url}/v1/chat/completions`, request('checked', { max_tokens: 200 }), { key });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(up.bodies.length, n + 3);
  });

  test('an answer cut at max_tokens (finish_reason length) is relayed as OpenAI gives it, not retried: the SDK reports the length limit', async () => {
    // It used to count as a miss: retried (and charged) once, then a 502 that the SDK
    // retried twice more, each time charged twice, instead of the client being told to
    // raise max_tokens.
    up.answer({ content: '{"city":"Par', prompt: 40, completion: 5, finish: 'length' }, { content: GOOD, prompt: 40, completion: 9 });
    const n = up.bodies.length;
    const { data: r, response } = await client.chat.completions.create({ ...(request('checked') as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming), max_completion_tokens: 5 }).withResponse();
    assert.equal(r.choices[0]!.finish_reason, 'length');
    assert.equal(r.choices[0]!.message.content, '{"city":"Par');
    assert.equal(response.headers.get('x-tollgate-schema-check'), 'skipped: cut at max tokens');
    assert.equal(up.bodies.length, n + 1, 'not retried');
    const charge = await chargeOf(response.headers.get('x-request-id')!);
    assert.equal(-usdToPico(charge.amount_usd), costOf(40, 5));
    up.answer({ content: '{"city":"Par', prompt: 40, completion: 5, finish: 'length' });
    await assert.rejects(client.chat.completions.parse({ ...(request('checked') as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming), max_completion_tokens: 5 } as any), LengthFinishReasonError);
  });

  test('a refusal (message.refusal, no content) is relayed as OpenAI gives it, not retried', async () => {
    up.answer({ content: null, refusal: "I'm sorry, I can't help with that.", prompt: 40, completion: 10 }, { content: GOOD, prompt: 40, completion: 9 });
    const n = up.bodies.length;
    const { data: r, response } = await client.chat.completions.parse(request('checked') as any).withResponse();
    assert.equal(r.choices[0]!.message.refusal, "I'm sorry, I can't help with that.");
    assert.equal(r.choices[0]!.message.parsed, null);
    assert.equal(response.headers.get('x-tollgate-schema-check'), 'skipped: refusal');
    assert.equal(up.bodies.length, n + 1, 'not retried');
    const charge = await chargeOf(response.headers.get('x-request-id')!);
    assert.equal(-usdToPico(charge.amount_usd), costOf(40, 10));
  });

  test('a model with validate_json_schema: false returns the first answer, not retried', async () => {
    up.answer({ content: '{"city":"Paris"}', prompt: 30, completion: 5 }, { content: GOOD, prompt: 30, completion: 9 });
    const n = up.bodies.length;
    const { data: r, response } = await client.chat.completions.create(request('unchecked') as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming).withResponse();
    assert.equal(r.choices[0]!.message.content, '{"city":"Paris"}');
    assert.equal(up.bodies.length, n + 1);
    assert.equal(response.headers.get('x-tollgate-schema-check'), null, 'no check, no mark');
    const charge = await chargeOf(response.headers.get('x-request-id')!);
    assert.equal(-usdToPico(charge.amount_usd), costOf(30, 5));
  });

  test('a conforming first answer is not retried', async () => {
    up.answer({ content: GOOD, prompt: 30, completion: 9 }, { content: '{}', prompt: 1, completion: 1 });
    const n = up.bodies.length;
    const { data: r, response } = await client.chat.completions.create(request('checked') as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming).withResponse();
    assert.equal(r.choices[0]!.message.content, GOOD);
    assert.equal(up.bodies.length, n + 1);
    assert.equal(response.headers.get('x-tollgate-schema-check'), 'passed');
  });

  test('streamed json_schema answers are relayed as they come (validation is for non-streaming requests)', async () => {
    up.answer({ content: '{"city":"Paris"}', prompt: 30, completion: 5 }, { content: GOOD, prompt: 30, completion: 9 });
    const n = up.bodies.length;
    const stream = await client.chat.completions.create({ ...(request('checked') as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming), stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    assert.equal(text, '{"city":"Paris"}');
    assert.equal(up.bodies.length, n + 1);
  });
  test('a schema pattern that backtracks exponentially is checked in linear time, and still enforced', async () => {
    // ^(a+)+$ against 40 a's and a '!' takes a backtracking engine minutes.
    const redos = { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' } }, required: ['a'] };
    const bad = JSON.stringify({ a: `${'a'.repeat(40)}!` });
    up.answer({ content: bad, prompt: 5, completion: 5 });
    const t0 = performance.now();
    const res = await post(`${tg.url}/v1/chat/completions`, request('checked', { response_format: { type: 'json_schema', json_schema: { name: 'r', schema: redos } } }), { key });
    const ms = performance.now() - t0;
    const e = expectError(res, { status: 502, type: 'api_error', code: 'response_format_validation_failed', param: 'response_format' });
    assert.match(e.message, /must match pattern/);
    assert.ok(ms < 2_000, `answered in ${ms.toFixed(0)} ms`);
    // A conforming answer passes the same pattern.
    up.answer({ content: JSON.stringify({ a: 'aaaa' }), prompt: 5, completion: 5 });
    const ok = await post(`${tg.url}/v1/chat/completions`, request('checked', { response_format: { type: 'json_schema', json_schema: { name: 'r', schema: redos } } }), { key });
    assert.equal(ok.status, 200, ok.text);
  });

  test('a pattern the linear engine cannot run (a back-reference) leaves the answer to the upstream: relayed, not retried', async () => {
    const schema = { type: 'object', properties: { a: { type: 'string', pattern: '^(x)\\1$' } } };
    up.answer({ content: JSON.stringify({ a: 'no match' }), prompt: 5, completion: 5 });
    const n = up.bodies.length;
    const res = await post(`${tg.url}/v1/chat/completions`, request('checked', { response_format: { type: 'json_schema', json_schema: { name: 'b', schema } } }), { key });
    assert.equal(res.status, 200, res.text);
    assert.equal(up.bodies.length, n + 1, 'not retried');
    assert.equal(res.headers.get('x-tollgate-schema-check'), 'skipped: schema not supported');
  });
});
