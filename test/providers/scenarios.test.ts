import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { startFakeOpenAI, type Behaviour, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startFakeAnthropic, type AnthropicScenario, type FakeAnthropic } from '../helpers/fake-anthropic.ts';
import { startFakeGemini, type FakeGemini, type GeminiScenario } from '../helpers/fake-gemini.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { sleep } from '../helpers/http.ts';
import { usdToPico } from '../../src/billing/money.ts';
import { countTextTokens } from '../../src/limits/token-count.ts';

// One scenario suite, run against every provider wire protocol: OpenAI (fake-openai),
// Anthropic Messages (fake-anthropic) and Gemini generateContent (fake-gemini). The
// client is the official OpenAI SDK and its code is the same for all three; only the
// upstream's script (`use`) and what to expect from its fixtures differ per provider.
// The fakes validate each request's native shape, so a bad translation fails loudly.

type Scenario =
  | 'simple' | 'tools' | 'tool-turn' | 'image' | 'cache-usage' | 'thinking' | 'json-schema'
  | 'stream-error' | 'error-401' | 'error-429' | 'error-500' | 'error-503' | 'error-529';

interface Tokens {
  prompt: number;
  cached?: number;
  cacheWrite?: number;
  completion: number;
  reasoning?: number;
}

interface Call {
  name: string;
  args: Record<string, unknown>;
}

interface Prices {
  input: string;
  cached_input?: string;
  cache_write?: string;
  output: string;
}

/** The stop / temperature / top_p / max_tokens of a request, read from its native fields. */
interface SamplingParams {
  stop: unknown;
  temperature: unknown;
  top_p: unknown;
  max_tokens: unknown;
}

interface Provider {
  name: 'openai' | 'anthropic' | 'gemini';
  /** The public model id (its owner, the first path segment of `owner/model`, is `name`). */
  model: string;
  upstreamModel: string;
  prices: Prices;
  /** Makes the upstream answer the next requests with this scenario. */
  use(s: Scenario, opts?: { stream?: boolean }): void;
  /** Request bodies the upstream received, in order. */
  received(): any[];
  receivedPath(i: number): string;
  // ---- what the fixtures say ----
  simple: { text: string; usage: Tokens };
  tools: { content: string | null; calls: Call[]; usage: Tokens };
  toolsStream: { content: string; calls: Call[] };
  /** First turn of the multi-turn tool conversation. */
  toolTurn: { scenario: Scenario; calls: Call[]; reasoning?: string; signature?: string };
  cache: Tokens;
  thinking: { reasoning: string; usage: Tokens };
  thinkingStream: { reasoning: string; content: string };
  serverErrors: Scenario[];
  retryAfter: string;
  /** Whether `n: 2` / `logprobs: true` are refused (adapters that translate) or passed on. */
  refusesUnsupported: boolean;
  // ---- where things land in the native request ----
  sampling(body: any): SamplingParams;
  /** The native form of the user message holding [text, image URL, image data URI]. */
  imageContent(body: any): unknown;
  expectedImageContent: unknown;
  /** Checks the second request of the tool conversation (tool results, signatures). */
  checkToolResults(body: any, firstTurn: OpenAI.Chat.ChatCompletionMessage): void;
  checkJsonSchema(body: any): void;
  /** The tool results of the request's last user turn, in native form (ids or names). */
  toolResults(body: any): string[];
}

// ---------------------------------------------------------------------------------
// Shared request material

const WEATHER_TOOLS: ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather for a location',
      parameters: { type: 'object', properties: { location: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['location'] },
    },
  },
  { type: 'function', function: { name: 'get_time', description: 'Local time', parameters: { type: 'object', properties: { timezone: { type: 'string' } }, required: ['timezone'] } } },
];

const WEATHER_SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' }, temperature_c: { type: 'number' } },
  required: ['city', 'temperature_c'],
  additionalProperties: false,
};

const IMAGE_URL = 'https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg';
const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const IMAGE_DATA_URI = `data:image/png;base64,${PNG_B64}`;

const SF = { location: 'San Francisco, CA', unit: 'celsius' };
const PARIS = { location: 'Paris, France', unit: 'celsius' };

// ---------------------------------------------------------------------------------
// Providers

let fakeOpenAI: FakeOpenAI;
let fakeAnthropic: FakeAnthropic;
let fakeGemini: FakeGemini;

const OPENAI_TOOL_CALLS = [
  { id: 'call_sf01', name: 'get_weather', arguments: JSON.stringify(SF) },
  { id: 'call_pa02', name: 'get_weather', arguments: JSON.stringify(PARIS) },
  { id: 'call_tm03', name: 'get_time', arguments: JSON.stringify({ timezone: 'Europe/Paris' }) },
];

const OPENAI_REASONING = 'Count the r letters: s-t-r-a-w-b-e-r-r-y. That is three.';
const OPENAI_ANSWER = 'There are 3 "r"s in strawberry.';
const OPENAI_REASONING_USAGE = { prompt_tokens: 9, completion_tokens: 268, total_tokens: 277, completion_tokens_details: { reasoning_tokens: 256 } };

/** A DeepSeek-style reasoning answer (the fake has no reasoning of its own). */
function openaiReasoningBody(stream: boolean): Behaviour {
  const base = { id: 'chatcmpl-reason1', created: 1_734_220_000, model: 'gpt-5-mini-2025-08-07' };
  if (!stream) {
    return {
      rawBody: JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', reasoning_content: OPENAI_REASONING, content: OPENAI_ANSWER }, logprobs: null, finish_reason: 'stop' }], usage: OPENAI_REASONING_USAGE }),
    };
  }
  const chunk = (delta: unknown, finish: string | null) => `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
  const frames = [
    chunk({ role: 'assistant', content: '' }, null),
    chunk({ reasoning_content: OPENAI_REASONING.slice(0, 20) }, null),
    chunk({ reasoning_content: OPENAI_REASONING.slice(20) }, null),
    chunk({ content: OPENAI_ANSWER }, null),
    chunk({}, 'stop'),
    `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage: OPENAI_REASONING_USAGE })}\n\n`,
    'data: [DONE]\n\n',
  ];
  return { rawBody: frames.join(''), contentType: 'text/event-stream' };
}

const openai: Provider = {
  name: 'openai',
  model: 'gpt-5-mini',
  upstreamModel: 'gpt-5-mini-2025-08-07',
  prices: { input: '0.25', cached_input: '0.025', output: '2' },
  use(s, opts = {}) {
    const b: Record<Scenario, Behaviour> = {
      simple: { text: 'Hello! How can I help you today?', promptTokens: 12, completionTokens: 11 },
      tools: { toolCalls: OPENAI_TOOL_CALLS, promptTokens: 472, completionTokens: 121 },
      'tool-turn': { toolCalls: OPENAI_TOOL_CALLS.slice(0, 2), promptTokens: 95, completionTokens: 40 },
      image: { text: 'An ant.', promptTokens: 300, completionTokens: 3 },
      'cache-usage': { text: 'Pride and Prejudice explores first impressions.', promptTokens: 2000, cachedTokens: 1536, completionTokens: 50 },
      thinking: openaiReasoningBody(opts.stream ?? false),
      'json-schema': { text: '{"city": "Paris", "temperature_c": 18}', promptTokens: 31, completionTokens: 13 },
      'stream-error': { text: 'Once upon a time', dieAfterChunks: 2, chunkDelayMs: 2 },
      'error-401': { status: 401, errorBody: { error: { message: 'Incorrect API key provided: sk-up***123.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } } },
      'error-429': { status: 429, headers: { 'retry-after': '7' }, errorBody: { error: { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' } } },
      'error-500': { status: 500 },
      'error-503': { status: 503 },
      'error-529': { status: 529 },
    };
    fakeOpenAI.behave(b[s]);
  },
  received: () => fakeOpenAI.requests.map((r) => r.body),
  receivedPath: (i) => fakeOpenAI.requests[i]!.path,
  simple: { text: 'Hello! How can I help you today?', usage: { prompt: 12, completion: 11 } },
  tools: { content: null, calls: OPENAI_TOOL_CALLS.map((c) => ({ name: c.name, args: JSON.parse(c.arguments) })), usage: { prompt: 472, completion: 121 } },
  toolsStream: { content: '', calls: OPENAI_TOOL_CALLS.map((c) => ({ name: c.name, args: JSON.parse(c.arguments) })) },
  toolTurn: { scenario: 'tool-turn', calls: [{ name: 'get_weather', args: SF }, { name: 'get_weather', args: PARIS }] },
  cache: { prompt: 2000, cached: 1536, completion: 50 },
  thinking: { reasoning: OPENAI_REASONING, usage: { prompt: 9, completion: 268, reasoning: 256 } },
  thinkingStream: { reasoning: OPENAI_REASONING, content: OPENAI_ANSWER },
  serverErrors: ['error-500', 'error-503'],
  retryAfter: '7',
  refusesUnsupported: false,
  sampling: (b) => ({ stop: b.stop, temperature: b.temperature, top_p: b.top_p, max_tokens: b.max_tokens }),
  imageContent: (b) => b.messages[0].content,
  expectedImageContent: [
    { type: 'text', text: 'What is in these images?' },
    { type: 'image_url', image_url: { url: IMAGE_URL } },
    { type: 'image_url', image_url: { url: IMAGE_DATA_URI } },
  ],
  checkToolResults(body, first) {
    // Passed through as sent: the assistant turn with its calls, then one tool message per call.
    assert.equal(body.messages[1].role, 'assistant');
    assert.deepEqual(body.messages[1].tool_calls.map((c: any) => c.id), first.tool_calls!.map((c) => c.id));
    assert.deepEqual(body.messages.slice(2).map((m: any) => [m.role, m.tool_call_id]), first.tool_calls!.map((c) => ['tool', c.id]));
  },
  toolResults: (b) => b.messages.filter((m: any) => m.role === 'tool').map((m: any) => m.tool_call_id),
  checkJsonSchema(body) {
    assert.deepEqual(body.response_format, { type: 'json_schema', json_schema: { name: 'weather', strict: true, schema: WEATHER_SCHEMA } });
  },
};

const ANTHROPIC_SIGNATURE = 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+ZfqYjzwQ8tRMzAf9/+t5KIybbhc6Jk2xzPjQ2MiU4hkjVAuJTz8kDkv7l/2qNWQjb6YjJEZ0QK8uA5Et3bS8TQIRBjTuUyRkxdBRRXhCQ==';
const ANTHROPIC_THINKING = 'The user wants the weather in Paris. I should call get_weather with Paris, France.';

const anthropic: Provider = {
  name: 'anthropic',
  model: 'claude-sonnet-4.5',
  upstreamModel: 'claude-sonnet-4-5-20250929',
  prices: { input: '3', cached_input: '0.30', cache_write: '3.75', output: '15' },
  use(s) {
    fakeAnthropic.setScenario((s === 'tool-turn' ? 'thinking' : s) as AnthropicScenario);
  },
  received: () => fakeAnthropic.requests.map((r) => r.body),
  receivedPath: (i) => fakeAnthropic.requests[i]!.path,
  simple: { text: 'Hello! How can I help you today?', usage: { prompt: 12, completion: 11 } },
  tools: { content: "I'll check the weather in both cities.", calls: [{ name: 'get_weather', args: SF }, { name: 'get_weather', args: PARIS }], usage: { prompt: 472, completion: 121 } },
  toolsStream: { content: "I'll check the weather in both cities.", calls: [{ name: 'get_weather', args: SF }, { name: 'get_weather', args: PARIS }] },
  toolTurn: { scenario: 'tool-turn', calls: [{ name: 'get_weather', args: { location: 'Paris, France' } }], reasoning: ANTHROPIC_THINKING, signature: ANTHROPIC_SIGNATURE },
  cache: { prompt: 21 + 12_000 + 188_086, cached: 12_000, cacheWrite: 188_086, completion: 393 },
  thinking: { reasoning: ANTHROPIC_THINKING, usage: { prompt: 388, completion: 160 } },
  thinkingStream: { reasoning: ANTHROPIC_THINKING, content: '' },
  serverErrors: ['error-500', 'error-529'],
  retryAfter: '2',
  refusesUnsupported: true,
  sampling: (b) => ({ stop: b.stop_sequences, temperature: b.temperature, top_p: b.top_p, max_tokens: b.max_tokens }),
  imageContent: (b) => b.messages[0].content,
  expectedImageContent: [
    { type: 'text', text: 'What is in these images?' },
    { type: 'image', source: { type: 'url', url: IMAGE_URL } },
    { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_B64 } },
  ],
  checkToolResults(body, first) {
    // The thinking block (text + signature) comes back first in the assistant turn, then
    // the tool_use with the bare Anthropic id; the results follow in a user turn.
    assert.deepEqual(body.messages[1], {
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: ANTHROPIC_THINKING, signature: ANTHROPIC_SIGNATURE },
        { type: 'tool_use', id: 'toolu_01CswdEQBMshySk6Y9DFKrfq', name: 'get_weather', input: { location: 'Paris, France' } },
      ],
    });
    assert.equal(first.tool_calls!.length, 1);
    assert.deepEqual(body.messages[2], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01CswdEQBMshySk6Y9DFKrfq', content: '{"temperature_c":18}' }] });
    assert.deepEqual(body.thinking, { type: 'enabled', budget_tokens: 2048 });
  },
  toolResults: (b) => b.messages.at(-1).content.filter((c: any) => c.type === 'tool_result').map((c: any) => c.tool_use_id),
  checkJsonSchema(body) {
    // No JSON mode on the Messages API: one forced tool whose input schema is the schema.
    assert.deepEqual(body.tools.map((t: any) => [t.name, t.input_schema]), [['tollgate_json_response', WEATHER_SCHEMA]]);
    assert.deepEqual(body.tool_choice, { type: 'tool', name: 'tollgate_json_response' });
  },
};

const GEMINI_SIGNATURE = 'CiQB0e2Kb7Ls2j5Jm3QyV3n8yCjT0Q1i6mRkq7cR6Hq9bWx0dH4KUgHR7YpH3vRz1mYq8tZ2Lw==';

const gemini: Provider = {
  name: 'gemini',
  model: 'gemini-3-pro',
  upstreamModel: 'gemini-3-pro-preview',
  prices: { input: '2', cached_input: '0.20', output: '12' },
  use(s) {
    fakeGemini.setScenario((s === 'tool-turn' ? 'tools' : s) as GeminiScenario);
  },
  received: () => fakeGemini.requests.map((r) => r.body),
  receivedPath: (i) => fakeGemini.requests[i]!.path,
  simple: { text: 'Hello! How can I help you today?', usage: { prompt: 8, completion: 9 } },
  // thoughtsTokenCount is billed as output: 40 + 176.
  tools: { content: null, calls: [{ name: 'get_weather', args: SF }, { name: 'get_weather', args: PARIS }], usage: { prompt: 95, completion: 216, reasoning: 176 } },
  toolsStream: { content: 'Checking both cities.', calls: [{ name: 'get_weather', args: SF }, { name: 'get_weather', args: PARIS }, { name: 'get_time', args: { timezone: 'Europe/Paris' } }] },
  toolTurn: { scenario: 'tool-turn', calls: [{ name: 'get_weather', args: SF }, { name: 'get_weather', args: PARIS }], signature: GEMINI_SIGNATURE },
  cache: { prompt: 323_393, cached: 322_560, completion: 14 },
  thinking: { reasoning: "**Counting the letters**\n\nI need to count the r's in strawberry: s-t-r-a-w-b-e-r-r-y. That is three.", usage: { prompt: 9, completion: 268, reasoning: 256 } },
  thinkingStream: { reasoning: "**Counting the letters**\n\nI need to count the r's in strawberry. s-t-r-a-w-b-e-r-r-y. That is three.", content: 'There are **3** "r"s in strawberry.' },
  serverErrors: ['error-500', 'error-503'],
  retryAfter: '37',
  refusesUnsupported: true,
  sampling: (b) => ({ stop: b.generationConfig?.stopSequences, temperature: b.generationConfig?.temperature, top_p: b.generationConfig?.topP, max_tokens: b.generationConfig?.maxOutputTokens }),
  imageContent: (b) => b.contents[0].parts,
  expectedImageContent: [
    { text: 'What is in these images?' },
    { fileData: { mimeType: 'image/jpeg', fileUri: IMAGE_URL } },
    { inlineData: { mimeType: 'image/png', data: PNG_B64 } },
  ],
  checkToolResults(body, msg) {
    // The model turn is replayed with the thought signature on its first functionCall
    // (the fake answers 400 on Gemini 3 otherwise); the responses are paired by name and id.
    const [a, b] = msg.tool_calls!.map((tc) => tc.id.replace(/__ts__.*$/, ''));
    assert.deepEqual(body.contents[1], {
      role: 'model',
      parts: [
        { functionCall: { id: a, name: 'get_weather', args: SF }, thoughtSignature: GEMINI_SIGNATURE },
        { functionCall: { id: b, name: 'get_weather', args: PARIS } },
      ],
    });
    assert.deepEqual(body.contents[2], {
      role: 'user',
      parts: [
        { functionResponse: { id: a, name: 'get_weather', response: { temperature_c: 18 } } },
        { functionResponse: { id: b, name: 'get_weather', response: { temperature_c: 18 } } },
      ],
    });
    assert.equal(body.generationConfig.thinkingConfig.thinkingLevel, 'low');
  },
  toolResults: (b) => b.contents.at(-1).parts.filter((x: any) => x.functionResponse).map((x: any) => x.functionResponse.name),
  checkJsonSchema(body) {
    assert.equal(body.generationConfig.responseMimeType, 'application/json');
    assert.deepEqual(body.generationConfig.responseJsonSchema, WEATHER_SCHEMA);
  },
};

const PROVIDERS = [openai, anthropic, gemini];

// ---------------------------------------------------------------------------------
// Billing arithmetic, independent of src/billing: USD per 1M tokens → pUSD per token.

function perToken(perMillion: string): bigint {
  const [whole, frac = ''] = perMillion.split('.');
  return BigInt(whole!) * 1_000_000n + BigInt(frac.padEnd(6, '0'));
}

function expectedCost(u: Tokens, p: Prices): bigint {
  const cached = u.cached ?? 0;
  const write = u.cacheWrite ?? 0;
  const input = perToken(p.input);
  return (
    BigInt(u.prompt - cached - write) * input +
    BigInt(cached) * (p.cached_input !== undefined ? perToken(p.cached_input) : input) +
    BigInt(write) * (p.cache_write !== undefined ? perToken(p.cache_write) : input) +
    BigInt(u.completion) * perToken(p.output)
  );
}

function assertUsage(usage: any, t: Tokens, p: Prices): void {
  assert.ok(usage, 'usage present');
  assert.equal(usage.prompt_tokens, t.prompt);
  assert.equal(usage.completion_tokens, t.completion);
  assert.equal(usage.total_tokens, t.prompt + t.completion);
  assert.equal(usage.prompt_tokens_details.cached_tokens, t.cached ?? 0);
  assert.equal(usage.prompt_cache_hit_tokens, t.cached ?? 0);
  assert.equal(usage.prompt_cache_miss_tokens, t.prompt - (t.cached ?? 0));
  if (t.cacheWrite) assert.equal(usage.prompt_tokens_details.cache_write_tokens, t.cacheWrite);
  if (t.reasoning) assert.equal(usage.completion_tokens_details?.reasoning_tokens, t.reasoning);
  assert.equal(usdToPico(usage.cost), expectedCost(t, p), `cost ${usage.cost}`);
}

// ---------------------------------------------------------------------------------

describe('provider scenarios through the gateway, one suite for every wire protocol', () => {
  let tg: TestGateway;

  before(async () => {
    [fakeOpenAI, fakeAnthropic, fakeGemini] = await Promise.all([startFakeOpenAI(), startFakeAnthropic({ eventDelayMs: 1 }), startFakeGemini({ eventDelayMs: 1 })]);
    const breaker = { failures: 1000, cooldown_ms: 1000 }; // errors here must not open breakers
    tg = await startTestGateway({
      config: {
        providers: [
          { id: 'openai', kind: 'openai', base_url: fakeOpenAI.baseUrl, api_key: 'sk-openai-upstream-key', breaker },
          { id: 'anthropic', kind: 'anthropic', base_url: fakeAnthropic.baseUrl, api_key: 'sk-ant-upstream-key', breaker },
          { id: 'gemini', kind: 'gemini', base_url: fakeGemini.baseUrl, api_key: 'gemini-upstream-key', breaker },
        ],
        // No owned_by: the owner is the first route's provider, so `anthropic/<model>` works.
        models: PROVIDERS.map((p) => ({ id: p.model, upstreams: [{ provider: p.name, model: p.upstreamModel }], pricing: p.prices })),
      },
    });
  });
  after(async () => {
    await tg?.close();
    await Promise.all([fakeOpenAI?.close(), fakeAnthropic?.close(), fakeGemini?.close()]);
  });

  for (const p of PROVIDERS) {
    describe(p.name, () => {
      let client: OpenAI;
      let accountId: string;

      before(async () => {
        const c = await tg.customer({ name: `${p.name}-customer` });
        accountId = c.accountId;
        client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: c.key, maxRetries: 0 });
      });

      /** The single ledger charge of a request (waits for the write-behind flush). */
      const chargeOf = async (requestId: string) => {
        for (let i = 0; i < 100; i++) {
          const r = await tg.admin('GET', `/accounts/${accountId}/ledger?limit=1000`);
          assert.equal(r.status, 200);
          const charges = (r.body.data as any[]).filter((e) => e.kind === 'charge' && e.request_id === requestId);
          if (charges.length) {
            assert.equal(charges.length, 1, 'one charge per request');
            return charges[0];
          }
          await sleep(20);
        }
        assert.fail(`no ledger charge for ${requestId}`);
      };

      const chat = (body: Omit<ChatCompletionCreateParamsNonStreaming, 'model'>) => client.chat.completions.create({ model: p.model, ...body }).withResponse();

      /** Streams with the SDK; returns the accumulated text, reasoning, finish reason and usage frame. */
      const streamChat = async (body: Record<string, unknown>) => {
        const { data: stream, response } = await client.chat.completions
          .create({ model: p.model, messages: [], ...body, stream: true, stream_options: { include_usage: true } } as OpenAI.Chat.ChatCompletionCreateParamsStreaming)
          .withResponse();
        let text = '';
        let reasoning = '';
        let finish: string | null = null;
        let usage: any = null;
        let usageFrames = 0;
        const models = new Set<string>();
        for await (const c of stream) {
          models.add(c.model);
          const ch = c.choices[0];
          if (ch) {
            text += ch.delta?.content ?? '';
            reasoning += (ch.delta as any)?.reasoning_content ?? '';
            if (ch.finish_reason) finish = ch.finish_reason;
          }
          if (c.usage) {
            usageFrames++;
            assert.deepEqual(c.choices, [], 'the usage frame has no choices');
            usage = c.usage;
          }
        }
        assert.equal(usageFrames, 1, 'exactly one usage frame');
        assert.deepEqual([...models], [p.model], 'every chunk names the public model');
        return { text, reasoning, finish, usage, requestId: response.headers.get('x-request-id')! };
      };

      test('simple chat', async () => {
        p.use('simple');
        const n = p.received().length;
        const { data: r, response } = await chat({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }] });
        assert.equal(p.received().length, n + 1);
        assert.equal(r.object, 'chat.completion');
        assert.equal(r.model, p.model);
        assert.equal(r.choices.length, 1);
        assert.equal(r.choices[0]!.message.role, 'assistant');
        assert.equal(r.choices[0]!.message.content, p.simple.text);
        assert.equal(r.choices[0]!.finish_reason, 'stop');
        assertUsage(r.usage, p.simple.usage, p.prices);
        assert.equal(response.headers.get('x-tollgate-provider'), p.name);
        assert.equal(response.headers.get('x-tollgate-upstream-model'), p.upstreamModel);
        assert.equal(response.headers.get('x-tollgate-failover'), 'false');
        const charge = await chargeOf(response.headers.get('x-request-id')!);
        assert.equal(-usdToPico(charge.amount_usd), expectedCost(p.simple.usage, p.prices));
      });

      test('streaming: text accumulates, finish_reason, one usage frame with the cost', async () => {
        p.use('simple', { stream: true });
        const s = await streamChat({ messages: [{ role: 'user', content: 'Hello' }] });
        assert.equal(s.text, p.simple.text);
        assert.equal(s.finish, 'stop');
        assertUsage(s.usage, p.simple.usage, p.prices);
        const charge = await chargeOf(s.requestId);
        assert.equal(-usdToPico(charge.amount_usd), expectedCost(p.simple.usage, p.prices));
      });

      test('streaming without include_usage: no usage frame, the same text', async () => {
        p.use('simple', { stream: true });
        const stream = await client.chat.completions.create({ model: p.model, stream: true, messages: [{ role: 'user', content: 'Hello' }] });
        let text = '';
        for await (const c of stream) {
          assert.ok(!c.usage, `no usage on any chunk: ${JSON.stringify(c)}`);
          text += c.choices[0]?.delta?.content ?? '';
        }
        assert.equal(text, p.simple.text);
      });

      test('the owner/model form resolves; owned_by is the owner', async () => {
        p.use('simple');
        const id = `${p.name}/${p.model}`;
        const n = p.received().length;
        const { data: r, response } = await chat({ model: id, messages: [{ role: 'user', content: 'Hello' }] } as any);
        assert.equal(r.model, id);
        assert.equal(r.choices[0]!.message.content, p.simple.text);
        assert.equal(p.received().length, n + 1);
        assert.equal(response.headers.get('x-tollgate-upstream-model'), p.upstreamModel);
        const listed = (await client.models.list()).data.find((m) => m.id === p.model);
        assert.equal(listed?.owned_by, p.name);
        const one = await client.models.retrieve(id);
        assert.equal(one.id, p.model);
        assert.equal(one.owned_by, p.name);
        // Another owner does not resolve.
        await assert.rejects(chat({ model: `someone-else/${p.model}`, messages: [{ role: 'user', content: 'x' }] } as any), (e: any) => e.status === 404 && e.code === 'model_not_found');
      });

      test('tool calls (non-streaming)', async () => {
        p.use('tools');
        const { data: r } = await chat({ messages: [{ role: 'user', content: 'Weather in San Francisco and Paris?' }], tools: WEATHER_TOOLS });
        const c = r.choices[0]!;
        assert.equal(c.finish_reason, 'tool_calls');
        assert.equal(c.message.content, p.tools.content);
        const calls = c.message.tool_calls!.map((tc) => {
          assert.equal(tc.type, 'function');
          assert.ok(tc.id, 'every call has an id');
          return tc.type === 'function' ? { name: tc.function.name, args: JSON.parse(tc.function.arguments) } : null;
        });
        assert.deepEqual(calls, p.tools.calls);
        assert.equal(new Set(c.message.tool_calls!.map((tc) => tc.id)).size, calls.length, 'ids are distinct');
        assertUsage(r.usage, p.tools.usage, p.prices);
      });

      test('tool calls streamed: several parallel calls accumulate by index into valid JSON', async () => {
        p.use('tools', { stream: true });
        const stream = client.chat.completions.stream({ model: p.model, messages: [{ role: 'user', content: 'Weather in San Francisco and Paris, and the time in Paris?' }], tools: WEATHER_TOOLS, stream_options: { include_usage: true } });
        const done: number[] = [];
        stream.on('tool_calls.function.arguments.done', (e) => done.push(e.index));
        const final = await stream.finalChatCompletion();
        const m = final.choices[0]!.message;
        assert.equal(final.choices[0]!.finish_reason, 'tool_calls');
        assert.equal(m.content ?? '', p.toolsStream.content);
        assert.ok(m.tool_calls && m.tool_calls.length >= 2, 'several calls');
        const calls = m.tool_calls.map((tc) => {
          assert.equal(tc.type, 'function');
          assert.ok(tc.id);
          if (tc.type !== 'function') return null;
          let args: unknown;
          assert.doesNotThrow(() => (args = JSON.parse(tc.function.arguments)), `valid JSON arguments: ${tc.function.arguments}`);
          return { name: tc.function.name, args };
        });
        assert.deepEqual(calls, p.toolsStream.calls);
        assert.deepEqual(done, calls.map((_, i) => i));
        assert.equal(final.model, p.model);
        assert.ok(final.usage && final.usage.prompt_tokens > 0);
      });

      test('a multi-turn tool conversation sends the results back (and the thought signature)', async () => {
        p.use(p.toolTurn.scenario);
        const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather like?' }];
        const { data: first } = await chat({ messages, tools: WEATHER_TOOLS, reasoning_effort: 'low' });
        const msg = first.choices[0]!.message;
        assert.equal(first.choices[0]!.finish_reason, 'tool_calls');
        assert.deepEqual(msg.tool_calls!.map((tc) => (tc.type === 'function' ? { name: tc.function.name, args: JSON.parse(tc.function.arguments) } : null)), p.toolTurn.calls);
        if (p.toolTurn.reasoning) assert.equal((msg as any).reasoning_content, p.toolTurn.reasoning);
        if (p.toolTurn.signature) assert.ok(msg.tool_calls![0]!.id.endsWith(p.toolTurn.signature), 'the signature rides on the first tool call id');
        // The client echoes the assistant message as it came, then answers each call.
        messages.push(msg);
        for (const tc of msg.tool_calls!) messages.push({ role: 'tool', tool_call_id: tc.id, content: JSON.stringify({ temperature_c: 18 }) });
        p.use('simple');
        const n = p.received().length;
        const { data: second } = await chat({ messages, tools: WEATHER_TOOLS, reasoning_effort: 'low' });
        assert.equal(second.choices[0]!.message.content, p.simple.text);
        assert.equal(p.received().length, n + 1);
        p.checkToolResults(p.received()[n], msg);
      });

      test('a tool conversation continued from a streamed turn with parallel calls', async () => {
        p.use('tools', { stream: true });
        const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather in San Francisco and Paris, and the time in Paris?' }];
        const first = await client.chat.completions.stream({ model: p.model, messages, tools: WEATHER_TOOLS }).finalChatCompletion();
        const msg = first.choices[0]!.message;
        const calls = msg.tool_calls!;
        assert.equal(calls.length, p.toolsStream.calls.length);
        messages.push(msg);
        for (const tc of calls) messages.push({ role: 'tool', tool_call_id: tc.id, content: JSON.stringify({ ok: true }) });
        p.use('simple', { stream: true });
        const n = p.received().length;
        const second = await client.chat.completions.stream({ model: p.model, messages, tools: WEATHER_TOOLS }).finalChatCompletion();
        assert.equal(second.choices[0]!.message.content, p.simple.text);
        assert.equal(p.toolResults(p.received()[n]).length, calls.length, 'one native tool result per call');
      });

      test('image_url parts (public URL and data URI) reach the upstream in its native form', async () => {
        p.use('image');
        const n = p.received().length;
        const { data: r } = await chat({
          messages: [{
            role: 'user',
            content: [
              { type: 'text', text: 'What is in these images?' },
              { type: 'image_url', image_url: { url: IMAGE_URL } },
              { type: 'image_url', image_url: { url: IMAGE_DATA_URI } },
            ],
          }],
        });
        assert.equal(typeof r.choices[0]!.message.content, 'string');
        assert.deepEqual(p.imageContent(p.received()[n]), p.expectedImageContent);
      });

      test('stop, temperature, top_p and max_tokens reach the upstream under its own names', async () => {
        p.use('simple');
        const n = p.received().length;
        await chat({ messages: [{ role: 'user', content: 'Hello' }], stop: ['END', '###'], temperature: 0.5, top_p: 0.9, max_tokens: 300 });
        assert.deepEqual(p.sampling(p.received()[n]), { stop: ['END', '###'], temperature: 0.5, top_p: 0.9, max_tokens: 300 });
        // A single string stop is a list of one upstream (where the wire wants a list).
        await chat({ messages: [{ role: 'user', content: 'Hello' }], stop: 'END' });
        assert.deepEqual(p.sampling(p.received()[n + 1]).stop, p.name === 'openai' ? 'END' : ['END']);
      });

      test(`a whitespace-only stop sequence (\\n\\n) ${p.name === 'anthropic' ? 'is refused as unsupported_parameter (Anthropic rejects it), upstream not called' : 'reaches the upstream'}`, async () => {
        p.use('simple');
        const n = p.received().length;
        const req = chat({ messages: [{ role: 'user', content: 'Hello' }], stop: ['END', '\n\n'] });
        if (p.name !== 'anthropic') {
          await req;
          assert.deepEqual(p.sampling(p.received()[n]).stop, ['END', '\n\n']);
          return;
        }
        await assert.rejects(req, (e: any) => {
          assert.equal(e.status, 400, e.message);
          assert.equal(e.code, 'unsupported_parameter');
          assert.equal(e.param, 'stop');
          assert.match(e.message, /whitespace/);
          return true;
        });
        assert.equal(p.received().length, n, 'the upstream was not called');
      });

      for (const stream of [false, true]) {
        test(`response_format json_schema${stream ? ' (streamed)' : ''}`, async () => {
          p.use('json-schema', { stream });
          const n = p.received().length;
          const body = {
            messages: [{ role: 'user' as const, content: 'Weather in Paris as JSON' }],
            response_format: { type: 'json_schema' as const, json_schema: { name: 'weather', strict: true, schema: WEATHER_SCHEMA } },
          };
          let content: string;
          if (stream) {
            const s = await streamChat(body);
            assert.equal(s.finish, 'stop');
            content = s.text;
          } else {
            const { data: r } = await chat(body);
            assert.equal(r.choices[0]!.finish_reason, 'stop');
            content = r.choices[0]!.message.content!;
          }
          assert.deepEqual(JSON.parse(content), { city: 'Paris', temperature_c: 18 });
          assert.equal(p.received().length, n + 1, 'a conforming answer is not retried');
          p.checkJsonSchema(p.received()[n]);
        });
      }

      test('reasoning output arrives as reasoning_content (non-streaming)', async () => {
        p.use('thinking');
        const n = p.received().length;
        const { data: r } = await chat({ messages: [{ role: 'user', content: 'How many r in strawberry?' }], reasoning_effort: 'low' });
        assert.equal((r.choices[0]!.message as any).reasoning_content, p.thinking.reasoning);
        assertUsage(r.usage, p.thinking.usage, p.prices);
        const sent = p.received()[n];
        if (p.name === 'anthropic') assert.deepEqual(sent.thinking, { type: 'enabled', budget_tokens: 2048 });
        if (p.name === 'gemini') assert.deepEqual(sent.generationConfig.thinkingConfig, { thinkingLevel: 'low', includeThoughts: true });
        if (p.name === 'openai') assert.equal(sent.reasoning_effort, 'low');
      });

      test('reasoning output arrives as reasoning_content deltas (streaming)', async () => {
        p.use('thinking', { stream: true });
        const s = await streamChat({ messages: [{ role: 'user', content: 'How many r in strawberry?' }], reasoning_effort: 'low' });
        assert.equal(s.reasoning, p.thinkingStream.reasoning);
        assert.equal(s.text, p.thinkingStream.content);
        assert.ok(s.usage.completion_tokens > 0);
      });

      for (const stream of [false, true]) {
        test(`cache usage is mapped into usage and billed at the cache prices${stream ? ' (streamed)' : ''}`, async () => {
          p.use('cache-usage', { stream });
          let usage: any;
          let requestId: string;
          if (stream) {
            const s = await streamChat({ messages: [{ role: 'user', content: 'Summarise the book.' }] });
            usage = s.usage;
            requestId = s.requestId;
          } else {
            const { data: r, response } = await chat({ messages: [{ role: 'user', content: 'Summarise the book.' }] });
            usage = r.usage;
            requestId = response.headers.get('x-request-id')!;
            assert.equal(usdToPico(response.headers.get('x-tollgate-cost')!), expectedCost(p.cache, p.prices));
          }
          assertUsage(usage, p.cache, p.prices);
          const charge = await chargeOf(requestId);
          assert.equal(-usdToPico(charge.amount_usd), expectedCost(p.cache, p.prices));
          assert.equal(charge.detail.provider, p.name);
          assert.equal(charge.detail.prompt_tokens, p.cache.prompt);
          assert.equal(charge.detail.cached_tokens, p.cache.cached ?? 0);
          assert.equal(charge.detail.cache_write_tokens, p.cache.cacheWrite ?? 0);
          assert.equal(charge.detail.completion_tokens, p.cache.completion);
        });
      }

      test('a provider error mid-stream ends the stream with an OpenAI error event; what was generated is charged', async () => {
        p.use('stream-error', { stream: true });
        const { data: stream, response } = await client.chat.completions
          .create({ model: p.model, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Tell me a story' }] })
          .withResponse();
        let text = '';
        await assert.rejects(
          (async () => {
            for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
          })(),
          (e: any) => {
            // The SDK raises the `data: {"error":{...}}` event as an APIError.
            assert.ok(e instanceof OpenAI.APIError, String(e));
            assert.equal(e.type, 'api_error');
            assert.equal(e.code, 'upstream_error');
            return true;
          },
        );
        assert.equal(text, 'Once upon');
        const charge = await chargeOf(response.headers.get('x-request-id')!);
        assert.equal(charge.detail.usage_estimated, true);
        assert.equal(charge.detail.completion_tokens, countTextTokens('Once upon'));
        assert.ok(charge.detail.prompt_tokens > 0);
        assert.equal(-usdToPico(charge.amount_usd), expectedCost({ prompt: charge.detail.prompt_tokens, completion: charge.detail.completion_tokens }, p.prices));
      });

      const sdkError = (status: number, code: string, type: string) => (e: any) => {
        assert.ok(e instanceof OpenAI.APIError, String(e));
        assert.equal(e.status, status, e.message);
        assert.equal(e.code, code, e.message);
        assert.equal(e.type, type, e.message);
        assert.match(e.requestID ?? '', /^req_/);
        return true;
      };

      for (const stream of [false, true]) {
        const label = stream ? ' (streaming request)' : '';
        const send = () => client.chat.completions.create({ model: p.model, stream, messages: [{ role: 'user', content: 'Hello' }] } as any);

        test(`upstream 401 → 502 upstream_error: the operator's credential, not the client's${label}`, async () => {
          p.use('error-401');
          await assert.rejects(send(), (e: any) => {
            sdkError(502, 'upstream_error', 'api_error')(e);
            assert.match(e.message, /rejected the gateway's credentials/);
            assert.doesNotMatch(e.message, /x-api-key|API key|api_key/i);
            return true;
          });
        });

        test(`upstream 429 on the only route → 429 with retry-after${label}`, async () => {
          p.use('error-429');
          await assert.rejects(send(), (e: any) => {
            sdkError(429, 'upstream_rate_limited', 'rate_limit_error')(e);
            assert.equal(e.headers.get('retry-after'), p.retryAfter);
            return true;
          });
        });

        test(`upstream ${p.serverErrors.join(' / ')} on the only route → 502 upstream_error${label}`, async () => {
          for (const s of p.serverErrors) {
            p.use(s);
            await assert.rejects(send(), (e: any) => {
              sdkError(502, 'upstream_error', 'api_error')(e);
              assert.match(e.message, new RegExp(`HTTP ${s.slice(6)}`));
              return true;
            });
          }
        });
      }

      for (const [field, value] of [['n', 2], ['logprobs', true]] as const) {
        test(`\`${field}: ${value}\` → ${p.refusesUnsupported ? '400 unsupported_parameter, upstream not called' : 'passed through to the upstream'}`, async () => {
          p.use('simple');
          const n = p.received().length;
          const req = chat({ messages: [{ role: 'user', content: 'Hello' }], [field]: value });
          if (!p.refusesUnsupported) {
            await req;
            assert.equal(p.received()[n][field], value);
            return;
          }
          await assert.rejects(req, (e: any) => {
            sdkError(400, 'unsupported_parameter', 'invalid_request_error')(e);
            assert.equal(e.param, field);
            assert.match(e.message, new RegExp(field));
            return true;
          });
          assert.equal(p.received().length, n, 'the upstream was not called');
        });
      }

      test('requests went to the provider\'s native endpoint', () => {
        const path = p.receivedPath(0);
        if (p.name === 'openai') assert.equal(path, '/v1/chat/completions');
        if (p.name === 'anthropic') assert.equal(path, '/v1/messages');
        if (p.name === 'gemini') assert.match(path, /^\/v1beta\/models\/gemini-3-pro-preview:(generateContent|streamGenerateContent\?alt=sse)$/);
      });
    });
  }
});

// ---------------------------------------------------------------------------------
// Provider-specific error signals that the suite above cannot express with one script.

describe('provider-specific error signals', () => {
  test('Gemini\'s invalid API key (400 API_KEY_INVALID) is the operator\'s credential: 502 upstream_error, not a 400 for the client', async (t) => {
    const up = await startFakeGemini({ apiKey: 'the-right-key' });
    const tg = await startTestGateway({
      config: {
        providers: [{ id: 'gemini', kind: 'gemini', base_url: up.baseUrl, api_key: 'a-revoked-key' }],
        models: [{ id: 'gemini-3-pro', upstreams: [{ provider: 'gemini', model: 'gemini-3-pro-preview' }], pricing: gemini.prices }],
      },
    });
    t.after(async () => {
      await tg.close();
      await up.close();
    });
    const { key } = await tg.customer();
    const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
    await assert.rejects(client.chat.completions.create({ model: 'gemini-3-pro', messages: [{ role: 'user', content: 'Hello' }] }), (e: any) => {
      assert.equal(e.status, 502, e.message);
      assert.equal(e.code, 'upstream_error');
      assert.doesNotMatch(e.message, /API key not valid/);
      return true;
    });
  });

  test('Gemini\'s 429 carries its wait in the body (RetryInfo.retryDelay, no Retry-After header): the client gets it as Retry-After', async (t) => {
    const body = readFileSync(new URL('../fixtures/providers/gemini/error-429.json', import.meta.url), 'utf8');
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(429, { 'content-type': 'application/json; charset=UTF-8' });
        res.end(body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const tg = await startTestGateway({
      config: {
        providers: [{ id: 'gemini', kind: 'gemini', base_url: `http://127.0.0.1:${port}/v1beta`, api_key: 'k' }],
        models: [{ id: 'gemini-3-pro', upstreams: [{ provider: 'gemini', model: 'gemini-3-pro-preview' }], pricing: gemini.prices }],
      },
    });
    t.after(async () => {
      await tg.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const { key } = await tg.customer();
    const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
    await assert.rejects(client.chat.completions.create({ model: 'gemini-3-pro', messages: [{ role: 'user', content: 'Hello' }] }), (e: any) => {
      assert.equal(e.status, 429, e.message);
      assert.equal(e.code, 'upstream_rate_limited');
      assert.equal(e.headers.get('retry-after'), '37');
      return true;
    });
  });
});
