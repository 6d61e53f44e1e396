import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

// Streams as OpenAI-compatible upstreams really send them, byte for byte, relayed to the
// official SDK: what the client reads, and what the request log bills.

/** A part that resets the connection instead of sending anything. */
const RESET = Symbol('reset');
/** What the upstream answers; parts of an array are sent 300 ms apart. */
let script: string | (string | typeof RESET)[] = '';
const server: Server = createServer((req, res) => {
  req.resume();
  req.on('end', async () => {
    const parts = typeof script === 'string' ? [script] : script;
    res.writeHead(200, { 'content-type': parts.filter((p) => typeof p === 'string').join('').trimStart().startsWith('{') ? 'application/json' : 'text/event-stream' });
    for (const [i, part] of parts.entries()) {
      if (i > 0) await new Promise((r) => setTimeout(r, 300));
      if (part === RESET) return void res.socket?.resetAndDestroy();
      res.write(part);
    }
    res.end();
  });
});

const frame = (o: Record<string, unknown>, eol = '\n'): string => `data: ${JSON.stringify(o)}${eol}${eol}`;

describe('OpenAI-compatible upstream dialects', () => {
  let tg: TestGateway;
  let client: OpenAI;
  let accountId: string;

  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    tg = await startTestGateway({ upstream: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` });
    const c = await tg.customer();
    accountId = c.accountId;
    client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: c.key, maxRetries: 0 });
  });
  after(async () => {
    await tg.close();
    await new Promise((r) => server.close(r));
  });

  /** Streams one request; returns the chunks the SDK read and the request's log record. */
  const run = async (includeUsage: boolean) => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }], ...(includeUsage ? { stream_options: { include_usage: true } } : {}) })
      .withResponse();
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    const id = response.headers.get('x-request-id');
    let rec: any;
    for (let i = 0; i < 100 && !rec; i++) {
      rec = (await tg.admin('GET', `/requests?account_id=${accountId}`)).body.data.find((r: any) => r.id === id);
      if (!rec) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(rec, `a log record for ${id}`);
    return { chunks, rec, text: chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('') };
  };

  test('Azure OpenAI: a first chunk naming model "" does not stop the later chunks from naming the public model', async () => {
    const base = { id: 'chatcmpl-az', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-2024-08-06', system_fingerprint: 'fp_az' };
    const filters = { hate: { filtered: false, severity: 'safe' }, self_harm: { filtered: false, severity: 'safe' } };
    script =
      frame({ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: [{ prompt_index: 0, content_filter_results: filters }] }) +
      frame({ ...base, choices: [{ content_filter_results: {}, delta: { content: '', role: 'assistant' }, finish_reason: null, index: 0 }] }) +
      frame({ ...base, choices: [{ content_filter_results: filters, delta: { content: 'Hello' }, finish_reason: null, index: 0 }] }) +
      frame({ ...base, choices: [{ content_filter_results: {}, delta: {}, finish_reason: 'stop', index: 0 }] }) +
      frame({ ...base, choices: [], usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 } }) +
      'data: [DONE]\n\n';
    const { chunks, rec, text } = await run(false);
    assert.equal(text, 'Hello');
    const named = chunks.map((c) => c.model).filter((m) => m !== '');
    assert.ok(named.length >= 3, JSON.stringify(chunks));
    for (const m of named) assert.equal(m, 'deepseek-v4-flash', `no chunk names the upstream's model: ${JSON.stringify(chunks)}`);
    assert.equal(rec.prompt_tokens, 9);
    assert.equal(rec.completion_tokens, 1);
  });

  test('a whole stream (finish_reason, then usage) that ends without [DONE] is complete: [DONE] is added, no error', async () => {
    const base = { id: 'chatcmpl-nd', object: 'chat.completion.chunk', created: 1, model: 'some-model' };
    script =
      frame({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'All' }, finish_reason: null }] }) +
      frame({ ...base, choices: [{ index: 0, delta: { content: ' done' }, finish_reason: null }] }) +
      frame({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }) +
      frame({ ...base, choices: [], usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 } });
    const { chunks, rec, text } = await run(true);
    assert.equal(text, 'All done');
    assert.equal(chunks.at(-1)?.usage?.completion_tokens, 2);
    assert.equal(rec.error_code, null);
    assert.equal(rec.prompt_tokens, 12);
    // Without the finish_reason it is a cut stream, as before.
    script = frame({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'All' }, finish_reason: null }] }) + frame({ ...base, choices: [], usage: { prompt_tokens: 12, completion_tokens: 1, total_tokens: 13 } });
    await assert.rejects(run(true), /ended the stream early/);
  });

  test('a non-streaming answer that opens with a byte-order mark is read, not a 502', async () => {
    const answer = { id: 'chatcmpl-bom', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'café' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } };
    script = '\ufeff' + JSON.stringify(answer);
    const r = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.choices[0]?.message.content, 'café');
    assert.equal(r.model, 'deepseek-v4-flash');
    assert.equal(r.usage?.prompt_tokens, 3);
  });

  test('Groq: usage under x_groq in the last chunk is billed and reported', async () => {
    const base = { id: 'chatcmpl-gq', object: 'chat.completion.chunk', created: 1, model: 'llama-3.3-70b-versatile', system_fingerprint: 'fp_gq' };
    script =
      frame({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], x_groq: { id: 'req_01' } }) +
      frame({ ...base, choices: [{ index: 0, delta: { content: 'Hi there' }, logprobs: null, finish_reason: null }] }) +
      frame({
        ...base,
        choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }],
        x_groq: { id: 'req_01', usage: { queue_time: 0.02, prompt_tokens: 4000, prompt_time: 0.01, completion_tokens: 300, completion_time: 0.2, total_tokens: 4300, total_time: 0.21 } },
      }) +
      'data: [DONE]\n\n';
    const { chunks, rec, text } = await run(true);
    assert.equal(text, 'Hi there');
    assert.equal(rec.prompt_tokens, 4000, JSON.stringify(rec));
    assert.equal(rec.completion_tokens, 300);
    const usage = chunks.find((c) => c.usage)?.usage;
    assert.equal(usage?.prompt_tokens, 4000);
    assert.equal(usage?.completion_tokens, 300);
  });

  test('Groq: a stream cut after the x_groq usage came, before [DONE], is billed that usage, not an estimate', async () => {
    const base = { id: 'chatcmpl-gq2', object: 'chat.completion.chunk', created: 1, model: 'llama-3.3-70b-versatile' };
    script = [
      frame({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi there' }, finish_reason: null }] }) +
        frame({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], x_groq: { id: 'req_02', usage: { prompt_tokens: 4000, completion_tokens: 40, total_tokens: 4040 } } }),
      RESET,
    ];
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.match(await res.text(), /"error"/);
    const id = res.headers.get('x-request-id');
    let rec: any;
    for (let i = 0; i < 100 && !rec; i++) {
      rec = (await tg.admin('GET', `/requests?account_id=${accountId}`)).body.data.find((r: any) => r.id === id);
      if (!rec) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(rec.prompt_tokens, 4000, JSON.stringify(rec));
    assert.equal(rec.completion_tokens, 40);
    const charge = (await tg.admin('GET', `/accounts/${accountId}/ledger?limit=1000`)).body.data.find((e: any) => e.request_id === id);
    assert.equal(charge.detail.usage_estimated, undefined, JSON.stringify(charge));
  });

  test('DeepSeek: reasoning deltas, keep-alive comments while thinking, cache hit and miss counts', async () => {
    const base = { id: 'ds-1', object: 'chat.completion.chunk', created: 1, model: 'deepseek-reasoner', system_fingerprint: 'fp_ds' };
    script =
      ': keep-alive\n\n' +
      frame({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: null, reasoning_content: '' }, logprobs: null, finish_reason: null }] }) +
      ': keep-alive\n\n' +
      frame({ ...base, choices: [{ index: 0, delta: { content: null, reasoning_content: 'Think' }, logprobs: null, finish_reason: null }] }) +
      frame({ ...base, choices: [{ index: 0, delta: { content: 'Answer', reasoning_content: null }, logprobs: null, finish_reason: null }] }) +
      frame({
        ...base,
        choices: [{ index: 0, delta: { content: '', reasoning_content: null }, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1000, completion_tokens: 20, total_tokens: 1020, prompt_tokens_details: { cached_tokens: 600 }, completion_tokens_details: { reasoning_tokens: 10 }, prompt_cache_hit_tokens: 600, prompt_cache_miss_tokens: 400 },
      }) +
      'data: [DONE]\n\n';
    const { chunks, rec, text } = await run(true);
    assert.equal(text, 'Answer');
    assert.equal(chunks.map((c) => (c.choices[0]?.delta as any)?.reasoning_content ?? '').join(''), 'Think');
    assert.equal(rec.prompt_tokens, 1000);
    assert.equal(rec.cached_tokens, 600);
    assert.equal(rec.completion_tokens, 20);
    assert.equal(chunks.at(-1)?.usage?.prompt_tokens, 1000);
  });

  test('Moonshot: usage inside the last choice, cached_tokens at its top level', async () => {
    const base = { id: 'cmpl-ms', object: 'chat.completion.chunk', created: 1, model: 'kimi-k2' };
    script =
      frame({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }) +
      frame({ ...base, choices: [{ index: 0, delta: { content: '你好' }, finish_reason: null }] }) +
      frame({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop', usage: { prompt_tokens: 500, completion_tokens: 2, total_tokens: 502, cached_tokens: 200 } }] }) +
      'data: [DONE]\n\n';
    const { rec, text } = await run(false);
    assert.equal(text, '你好');
    assert.equal(rec.prompt_tokens, 500);
    assert.equal(rec.cached_tokens, 200);
    assert.equal(rec.completion_tokens, 2);
  });

  test('vLLM / llama.cpp: no space after data:, CRLF, a final chunk with content, finish_reason and usage', async () => {
    const base = { id: 'cmpl-v', object: 'chat.completion.chunk', created: 1, model: '/models/qwen' };
    script =
      `data:${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], usage: null })}\r\n\r\n` +
      `data:${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: 'a' }, logprobs: null, finish_reason: null }], usage: null })}\r\n\r\n` +
      `data:${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: 'b' }, logprobs: null, finish_reason: 'stop' }], usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 } })}\r\n\r\n` +
      'data: [DONE]\r\n\r\n';
    const { chunks, rec, text } = await run(false);
    assert.equal(text, 'ab');
    assert.ok(chunks.every((c) => c.model === 'deepseek-v4-flash' && !('usage' in c && c.usage)), JSON.stringify(chunks));
    assert.equal(rec.prompt_tokens, 12);
    assert.equal(rec.completion_tokens, 2);
  });
  test('OpenRouter, vLLM, Ollama: reasoning sent as delta.reasoning is counted when the stream comes without usage', async () => {
    const base = { id: 'gen-1', object: 'chat.completion.chunk', created: 1, model: 'openai/gpt-oss-120b', provider: 'Groq' };
    const thought = 'The user greets me, so I should greet them back politely and briefly. '.repeat(20);
    script =
      ': OPENROUTER PROCESSING\n\n' +
      thought.match(/.{1,60}/g)!.map((t) => frame({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '', reasoning: t }, finish_reason: null }] })).join('') +
      frame({ ...base, choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: null }] }) +
      frame({ ...base, choices: [{ index: 0, delta: { content: '' }, finish_reason: 'stop' }] }) +
      'data: [DONE]\n\n';
    const { chunks, rec, text } = await run(false);
    assert.equal(text, 'Hi');
    assert.equal(chunks.map((c) => (c.choices[0]?.delta as any)?.reasoning ?? '').join(''), thought);
    // ~280 tokens of reasoning: billed as output, not just the one token of content.
    assert.ok(rec.completion_tokens > 200, JSON.stringify(rec));
  });

  test('OpenRouter: an error frame mid-stream (HTTP 200) ends the stream with an error the SDK throws', async () => {
    const base = { id: 'gen-2', object: 'chat.completion.chunk', created: 1, model: 'anthropic/claude', provider: 'Anthropic' };
    script =
      frame({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'Par' }, finish_reason: null }] }) +
      frame({ ...base, error: { code: 502, message: 'Provider returned error' }, choices: [{ index: 0, delta: { content: '' }, finish_reason: 'error' }] });
    const stream = await client.chat.completions.create({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    let got = '';
    await assert.rejects(async () => {
      for await (const c of stream) got += c.choices[0]?.delta?.content ?? '';
    }, /Provider returned error|upstream/i);
    assert.equal(got, 'Par');
  });
  test('keep-alive comments reach the client while the upstream thinks, without the upstream\'s text', async () => {
    const base = { id: 'ds-2', object: 'chat.completion.chunk', created: 1, model: 'deepseek-reasoner' };
    script = [
      ': OPENROUTER PROCESSING\n\n',
      ': keep-alive\r\n\r\n',
      frame({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] }) +
        frame({ ...base, choices: [], usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 } }) +
        'data: [DONE]\n\n',
    ];
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    // The first thing the client reads, while the upstream is still silent, is a keep-alive.
    let first = '';
    while (!first) first = dec.decode((await reader.read()).value);
    assert.equal(first, ': keep-alive\n\n');
    let text = first;
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += dec.decode(r.value);
    assert.ok(!text.includes('OPENROUTER'), text);
    assert.equal(text.split(': keep-alive\n\n').length - 1, 2, text);
    assert.match(text, /"model":"deepseek-v4-flash"/);
    assert.doesNotMatch(text, /deepseek-reasoner/);
    assert.ok(text.endsWith('data: [DONE]\n\n'));
  });
  test('DeepSeek, non-streaming: blank lines sent while the request waits precede the JSON', async () => {
    const answer = { id: 'ds-3', object: 'chat.completion', created: 1, model: 'deepseek-chat', choices: [{ index: 0, message: { role: 'assistant', content: 'Fine' }, logprobs: null, finish_reason: 'stop' }], usage: { prompt_tokens: 50, completion_tokens: 1, total_tokens: 51, prompt_cache_hit_tokens: 32, prompt_cache_miss_tokens: 18 } };
    script = ['\n', '\n', JSON.stringify(answer)];
    const { data, response } = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    assert.equal(data.choices[0]?.message.content, 'Fine');
    assert.equal(data.model, 'deepseek-v4-flash');
    assert.equal(data.usage?.prompt_tokens_details?.cached_tokens, 32);
    assert.ok(response.headers.get('x-tollgate-cost'));
  });
  test('OpenRouter: the usage the client gets carries the gateway\'s cost, not what the upstream charged the operator', async () => {
    const base = { id: 'gen-3', object: 'chat.completion.chunk', created: 1, model: 'openai/gpt-4o', provider: 'OpenAI' };
    const usage = { prompt_tokens: 194, completion_tokens: 2, total_tokens: 196, cost: 0.95, is_byok: true, prompt_tokens_details: { cached_tokens: 0 }, cost_details: { upstream_inference_cost: 19, upstream_inference_prompt_cost: 18, upstream_inference_completions_cost: 1 }, completion_tokens_details: { reasoning_tokens: 0 } };
    script = frame({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'Yo' }, finish_reason: 'stop', native_finish_reason: 'stop' }] }) + frame({ ...base, choices: [], usage }) + 'data: [DONE]\n\n';
    const { chunks, rec } = await run(true);
    const got = chunks.at(-1)?.usage as Record<string, unknown> | undefined;
    assert.equal(got?.prompt_tokens, 194);
    assert.equal(got?.cost, rec.cost_usd);
    assert.equal(got?.cost_details, undefined, JSON.stringify(got));
    assert.equal(got?.is_byok, undefined);

    script = ['\n', JSON.stringify({ id: 'gen-4', object: 'chat.completion', created: 1, model: 'openai/gpt-4o', provider: 'OpenAI', choices: [{ index: 0, message: { role: 'assistant', content: 'Yo' }, finish_reason: 'stop' }], usage })];
    const answer = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] });
    const plain = answer.usage as unknown as Record<string, unknown>;
    assert.equal(plain.prompt_tokens, 194);
    assert.equal(typeof plain.cost, 'string');
    assert.equal(plain.cost_details, undefined, JSON.stringify(plain));
    assert.equal(plain.is_byok, undefined);
  });
});
