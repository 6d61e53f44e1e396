import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

// A fake Anthropic Messages API on a real node:http server (127.0.0.1, port 0). It checks
// each request against the documented shape — x-api-key and anthropic-version headers,
// model / max_tokens / messages, user-first alternating roles, non-empty text blocks,
// tool_result blocks first and answering a tool_use of the previous assistant turn,
// thinking budget below max_tokens — and answers 400 in Anthropic's error shape when it
// is malformed, so gateway tests catch bad translations. Otherwise it replays the
// fixture of the current scenario (setScenario, or `scenario:<name>` in the last user
// message), streaming SSE fixtures event by event with a small delay.
// https://docs.anthropic.com/en/api/messages

export type AnthropicScenario =
  | 'simple' | 'stream' | 'tools' | 'image' | 'cache-usage' | 'thinking' | 'json-schema' | 'stream-error'
  | 'error-400' | 'error-400-credit-balance' | 'error-401' | 'error-402' | 'error-429' | 'error-500' | 'error-529';

export interface FakeAnthropicOptions {
  /** When set, requests with another x-api-key get the 401 fixture. */
  apiKey?: string;
  scenario?: AnthropicScenario;
  /** Delay between SSE events, ms. */
  eventDelayMs?: number;
}

export interface RecordedRequest {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

export interface FakeAnthropic {
  baseUrl: string;
  port: number;
  requests: RecordedRequest[];
  setScenario(name: AnthropicScenario): void;
  close(): Promise<void>;
}

const FIXTURES = new URL('../fixtures/providers/anthropic/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');
const FIXTURE_MODEL = 'claude-sonnet-4-5-20250929';

const ERRORS: Record<string, { status: number; file: string; headers?: Record<string, string> }> = {
  'error-400': { status: 400, file: 'error-400.json' },
  'error-400-credit-balance': { status: 400, file: 'error-400-credit-balance.json' },
  'error-401': { status: 401, file: 'error-401.json' },
  'error-402': { status: 402, file: 'error-402.json' },
  'error-429': { status: 429, file: 'error-429.json', headers: { 'retry-after': '2', 'anthropic-ratelimit-input-tokens-remaining': '0' } },
  'error-500': { status: 500, file: 'error-500.json' },
  'error-529': { status: 529, file: 'error-529.json' },
};

const FILES: Record<string, { json: string; sse?: string }> = {
  simple: { json: 'simple.response.json', sse: 'simple.stream.sse' },
  stream: { json: 'simple.response.json', sse: 'simple.stream.sse' },
  tools: { json: 'tools.response.json', sse: 'tools-parallel.stream.sse' },
  image: { json: 'image.response.json' },
  'cache-usage': { json: 'cache-usage.response.json', sse: 'cache-usage.stream.sse' },
  thinking: { json: 'thinking.response.json', sse: 'thinking.stream.sse' },
  'json-schema': { json: 'json-schema.response.json', sse: 'json-schema.stream.sse' },
  'stream-error': { json: 'error-529.json', sse: 'stream-error.stream.sse' },
};

function errorBody(type: string, message: string): string {
  return JSON.stringify({ type: 'error', error: { type, message }, request_id: `req_fake${Date.now()}` });
}

/** Returns what is wrong with the request, or null. */
export function validateAnthropicRequest(headers: IncomingMessage['headers'], body: any): string | null {
  if (!headers['anthropic-version']) return 'anthropic-version: header is required';
  if (!String(headers['content-type'] ?? '').includes('application/json')) return 'content-type: must be application/json';
  if (!body || typeof body !== 'object') return 'body: must be a JSON object';
  if (typeof body.model !== 'string' || !body.model) return 'model: Field required';
  if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) return 'max_tokens: Field required (a positive integer)';
  if (!Array.isArray(body.messages) || body.messages.length === 0) return 'messages: Field required (at least one message)';
  for (const k of ['n', 'presence_penalty', 'frequency_penalty', 'logprobs', 'response_format', 'max_completion_tokens', 'stop', 'tool_calls', 'user']) {
    if (k in body) return `${k}: Extra inputs are not permitted`;
  }
  if (body.system !== undefined && typeof body.system !== 'string' && !Array.isArray(body.system)) return 'system: Input should be a valid string or list';
  // Whitespace-only text is refused where nothing beside it says anything ("\n" alone,
  // or before a tool_use); and an assistant prefill must not end in whitespace.
  const blank = (blocks: any[]) => blocks.some((b) => b?.type === 'text' && typeof b.text === 'string' && b.text && !b.text.trim()) && !blocks.some((b) => b?.type === 'text' && typeof b.text === 'string' && b.text.trim());
  if (Array.isArray(body.system) ? blank(body.system) : typeof body.system === 'string' && body.system && !body.system.trim()) return 'system: text content blocks must contain non-whitespace text';
  for (const m of Array.isArray(body.messages) ? body.messages : []) {
    if (blank(typeof m?.content === 'string' ? [{ type: 'text', text: m.content }] : Array.isArray(m?.content) ? m.content : [])) return 'messages: text content blocks must contain non-whitespace text';
  }
  const final = Array.isArray(body.messages) ? body.messages.at(-1) : undefined;
  const finalText = final?.role === 'assistant' ? (typeof final.content === 'string' ? final.content : final.content?.at?.(-1)?.text) : undefined;
  if (typeof finalText === 'string' && /\s$/.test(finalText)) return 'messages: final assistant content cannot end with trailing whitespace';
  if (body.stop_sequences !== undefined && (!Array.isArray(body.stop_sequences) || body.stop_sequences.some((x: unknown) => typeof x !== 'string' || !x.trim()))) return 'stop_sequences: each stop sequence must contain non-whitespace';
  if (body.temperature !== undefined && (typeof body.temperature !== 'number' || body.temperature < 0 || body.temperature > 1)) return 'temperature: Input should be less than or equal to 1';
  if (body.thinking) {
    if (body.thinking.type !== 'enabled' || !Number.isInteger(body.thinking.budget_tokens) || body.thinking.budget_tokens < 1024) return 'thinking.budget_tokens: Input should be greater than or equal to 1024';
    if (body.thinking.budget_tokens >= body.max_tokens) return '`max_tokens` must be greater than `thinking.budget_tokens`';
  }
  if (body.tool_choice && !['auto', 'any', 'tool', 'none'].includes(body.tool_choice.type)) return 'tool_choice.type: Input should be auto, any, tool or none';
  if (body.tool_choice?.type === 'tool' && !(body.tools ?? []).some((t: any) => t.name === body.tool_choice.name)) return 'tool_choice.name: Tool not found';
  for (const [i, t] of (body.tools ?? []).entries()) {
    if (typeof t?.name !== 'string' || !/^[a-zA-Z0-9_-]{1,128}$/.test(t.name)) return `tools.${i}.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`;
    if (!t.input_schema || t.input_schema.type !== 'object') return `tools.${i}.input_schema.type: Input should be 'object'`;
  }
  // As LiteLLM's and Bedrock's clients know it: tool calls in the history need tools defined.
  const toolBlocks = body.messages.some((m: any) => Array.isArray(m?.content) && m.content.some((b: any) => b?.type === 'tool_use' || b?.type === 'tool_result'));
  if (toolBlocks && !(Array.isArray(body.tools) && body.tools.length)) return 'Requests which include `tool_use` or `tool_result` blocks must define tools.';
  let previousToolUses = new Set<string>();
  for (const [i, m] of body.messages.entries()) {
    const expected = i % 2 === 0 ? 'user' : 'assistant';
    if (m?.role !== 'user' && m?.role !== 'assistant') return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    if (m.role !== expected) return `messages: roles must alternate between "user" and "assistant", starting with "user" (messages.${i})`;
    const content = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
    if (!Array.isArray(content) || content.length === 0) return `messages.${i}: all messages must have non-empty content`;
    let seenNonResult = false;
    const toolUses = new Set<string>();
    for (const [j, b] of content.entries()) {
      const at = `messages.${i}.content.${j}`;
      switch (b?.type) {
        case 'text':
          if (typeof b.text !== 'string' || !b.text) return `${at}: text content blocks must be non-empty`;
          seenNonResult = true;
          break;
        case 'image':
          if (m.role !== 'user') return `${at}: images are only allowed in user messages`;
          if (b.source?.type === 'base64' ? !(b.source.media_type && b.source.data) : !(b.source?.type === 'url' && /^https?:/.test(b.source.url))) return `${at}.source: invalid image source`;
          if (b.source?.type === 'base64') {
            // Anthropic looks at the bytes: a JPEG labelled image/png is refused.
            const head = Buffer.from(String(b.source.data).slice(0, 16), 'base64').toString('latin1');
            const actual = head.startsWith('\x89PNG') ? 'image/png' : head.startsWith('\xff\xd8\xff') ? 'image/jpeg' : head.startsWith('GIF8') ? 'image/gif' : head.startsWith('RIFF') && head.slice(8, 12) === 'WEBP' ? 'image/webp' : undefined;
            if (actual && actual !== b.source.media_type) return `${at}.image.source.base64.data: Image does not match the provided media type ${b.source.media_type}`;
          }
          seenNonResult = true;
          break;
        case 'document':
          seenNonResult = true;
          break;
        case 'tool_use':
          if (m.role !== 'assistant') return `${at}: tool_use is only allowed in assistant messages`;
          if (typeof b.id !== 'string' || !/^[a-zA-Z0-9_-]+$/.test(b.id)) return `${at}.id: String should match pattern '^[a-zA-Z0-9_-]+$'`;
          if (!b.input || typeof b.input !== 'object' || Array.isArray(b.input)) return `${at}.input: Input should be a valid dictionary`;
          toolUses.add(b.id);
          break;
        case 'thinking':
          if (m.role !== 'assistant' || typeof b.signature !== 'string' || !b.signature) return `${at}.signature: Field required`;
          break;
        case 'redacted_thinking':
          if (m.role !== 'assistant' || typeof b.data !== 'string' || !b.data) return `${at}.data: Field required`;
          break;
        case 'tool_result':
          if (m.role !== 'user') return `${at}: tool_result is only allowed in user messages`;
          if (seenNonResult) return `messages.${i}: tool_result blocks must come first in the content`;
          if (!previousToolUses.has(b.tool_use_id)) return `${at}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${b.tool_use_id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
          break;
        default:
          return `${at}.type: Input tag '${b?.type}' found using 'type' does not match any of the expected tags`;
      }
    }
    previousToolUses = toolUses;
  }
  // A tool loop is one assistant turn, in one thinking mode: with thinking on, the
  // assistant message whose tool calls the last user message answers must open with its
  // thinking (Anthropic, "Preserving thinking blocks").
  const msgs: any[] = body.messages;
  const last = msgs.at(-1);
  if (body.thinking && msgs.length >= 2 && last?.role === 'user' && Array.isArray(last.content) && last.content.some((b: any) => b?.type === 'tool_result')) {
    const i = msgs.length - 2;
    const first = msgs[i].content?.[0];
    if (first?.type !== 'thinking' && first?.type !== 'redacted_thinking') {
      return `messages.${i}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${first?.type}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable \`thinking\`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking`;
    }
  }
  return null;
}

function lastUserText(body: any): string {
  const last = [...(body?.messages ?? [])].reverse().find((m: any) => m?.role === 'user');
  if (!last) return '';
  if (typeof last.content === 'string') return last.content;
  return (last.content ?? []).map((b: any) => (b?.type === 'text' ? b.text : '')).join(' ');
}

/** Builds an SSE stream equivalent to a non-streaming response (for scenarios without one). */
function synthesizeSse(r: any): string {
  const ev = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  let s = ev('message_start', { message: { ...r, content: [], stop_reason: null, usage: { ...r.usage, output_tokens: 1 } } });
  r.content.forEach((b: any, index: number) => {
    if (b.type === 'text') {
      s += ev('content_block_start', { index, content_block: { type: 'text', text: '' } });
      s += ev('content_block_delta', { index, delta: { type: 'text_delta', text: b.text } });
    } else if (b.type === 'tool_use') {
      s += ev('content_block_start', { index, content_block: { ...b, input: {} } });
      s += ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(b.input) } });
    }
    s += ev('content_block_stop', { index });
  });
  s += ev('message_delta', { delta: { stop_reason: r.stop_reason, stop_sequence: null }, usage: { output_tokens: r.usage.output_tokens } });
  return s + ev('message_stop', {});
}

export async function startFakeAnthropic(opts: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  let scenario: AnthropicScenario = opts.scenario ?? 'simple';
  const delay = opts.eventDelayMs ?? 5;
  const requests: RecordedRequest[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await new Promise<string>((resolve) => {
      let s = '';
      req.setEncoding('utf8');
      req.on('data', (c) => (s += c));
      req.on('end', () => resolve(s));
    });
    let body: any = null;
    try {
      body = JSON.parse(raw);
    } catch {
      /* validated below */
    }
    const path = req.url ?? '';
    requests.push({ path, headers: req.headers, body });
    const sendJson = (status: number, text: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_fake${requests.length}`, ...headers });
      res.end(text);
    };
    if (req.method !== 'POST' || !path.replace(/\?.*$/, '').endsWith('/v1/messages')) {
      return sendJson(404, errorBody('not_found_error', `Not found: ${req.method} ${path}`));
    }
    // The API takes the key as x-api-key (what the gateway sends) or as a bearer token
    // (what the official SDK sends since 1.x).
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    const apiKey = req.headers['x-api-key'] ?? bearer;
    if (!apiKey) return sendJson(401, errorBody('authentication_error', 'x-api-key header is required'));
    if (opts.apiKey !== undefined && apiKey !== opts.apiKey) return sendJson(401, read('error-401.json'));
    const problem = body === null ? 'body: invalid JSON' : validateAnthropicRequest(req.headers, body);
    if (problem) return sendJson(400, errorBody('invalid_request_error', problem));

    const marker = /scenario:([a-z0-9-]+)/.exec(lastUserText(body))?.[1] as AnthropicScenario | undefined;
    const current = marker ?? scenario;
    const err = ERRORS[current];
    if (err) return sendJson(err.status, read(err.file), err.headers);
    const files = FILES[current];
    if (!files) return sendJson(400, errorBody('invalid_request_error', `fake-anthropic: unknown scenario "${current}"`));
    const withModel = (text: string) => text.split(FIXTURE_MODEL).join(body.model);
    if (!body.stream) {
      if (current === 'stream-error') return sendJson(529, read('error-529.json'));
      return sendJson(200, withModel(read(files.json)));
    }
    const sse = withModel(files.sse ? read(files.sse) : synthesizeSse(JSON.parse(read(files.json))));
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    for (const event of sse.split(/\n\n+/).filter((e) => e.trim())) {
      if (res.destroyed) return;
      res.write(`${event}\n\n`);
      if (delay) await new Promise((r) => setTimeout(r, delay));
    }
    res.end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(errorBody('api_error', String(e)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    setScenario(name) {
      scenario = name;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

