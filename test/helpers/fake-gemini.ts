import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

// A fake Gemini API (generateContent / streamGenerateContent) on a real node:http server
// (127.0.0.1, port 0). It checks each request against the documented shape — the
// x-goog-api-key header (or ?key=), no unknown fields (Gemini answers "Unknown name ...:
// Cannot find field"), roles user/model only, exactly one data field per part, function
// responses matching the previous turn's function calls by name and count, and on
// Gemini 3 models a thoughtSignature on the first functionCall of each step of the
// current turn — answering 400 in Google's error shape otherwise, so gateway tests catch
// bad translations. Otherwise it replays the fixture of the current scenario
// (setScenario, or `scenario:<name>` in the last user text), streaming SSE fixtures
// event by event with a small delay.
// https://ai.google.dev/api/generate-content

export type GeminiScenario =
  | 'simple' | 'stream' | 'tools' | 'image' | 'cache-usage' | 'thinking' | 'json-schema' | 'safety' | 'stream-error'
  | 'error-400' | 'error-401' | 'error-429' | 'error-500' | 'error-503';

export interface FakeGeminiOptions {
  /** When set, requests with another key get Google's API_KEY_INVALID 400. */
  apiKey?: string;
  scenario?: GeminiScenario;
  /** Delay between SSE events, ms. */
  eventDelayMs?: number;
}

export interface RecordedRequest {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

export interface FakeGemini {
  baseUrl: string;
  port: number;
  requests: RecordedRequest[];
  setScenario(name: GeminiScenario): void;
  close(): Promise<void>;
}

const FIXTURES = new URL('../fixtures/providers/gemini/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');

const ERRORS: Record<string, { status: number; file: string; headers?: Record<string, string> }> = {
  'error-400': { status: 400, file: 'error-400.json' },
  'error-401': { status: 401, file: 'error-401.json' },
  'error-429': { status: 429, file: 'error-429.json', headers: { 'retry-after': '37' } },
  'error-500': { status: 500, file: 'error-500.json' },
  'error-503': { status: 503, file: 'error-503.json' },
};

const FILES: Record<string, { json: string; sse?: string }> = {
  simple: { json: 'simple.response.json', sse: 'simple.stream.sse' },
  stream: { json: 'simple.response.json', sse: 'simple.stream.sse' },
  tools: { json: 'tools.response.json', sse: 'tools-parallel.stream.sse' },
  image: { json: 'image.response.json' },
  'cache-usage': { json: 'cache-usage.response.json' },
  thinking: { json: 'thinking.response.json', sse: 'thinking.stream.sse' },
  'json-schema': { json: 'json-schema.response.json' },
  safety: { json: 'safety.response.json' },
  'stream-error': { json: 'error-503.json', sse: 'stream-error.stream.sse' },
};

const STATUS_BY_CODE: Record<number, string> = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 404: 'NOT_FOUND', 500: 'INTERNAL' };

function googleError(code: number, message: string): string {
  return JSON.stringify({ error: { code, message, status: STATUS_BY_CODE[code] ?? 'UNKNOWN' } });
}

const TOP_LEVEL = new Set(['contents', 'systemInstruction', 'tools', 'toolConfig', 'generationConfig', 'safetySettings', 'cachedContent', 'labels']);
const GENERATION_CONFIG = new Set([
  'stopSequences', 'responseMimeType', 'responseSchema', 'responseJsonSchema', 'responseModalities', 'candidateCount', 'maxOutputTokens',
  'temperature', 'topP', 'topK', 'seed', 'presencePenalty', 'frequencyPenalty', 'responseLogprobs', 'logprobs', 'thinkingConfig',
  'mediaResolution', 'speechConfig', 'enableEnhancedCivicAnswers',
]);
const PART_DATA = ['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse', 'executableCode', 'codeExecutionResult'];
const PART_META = new Set(['thought', 'thoughtSignature', 'videoMetadata', 'partMetadata', 'mediaResolution']);

function isGemini3(model: string): boolean {
  return !/^gemini-(1|2)(\.|-)/.test(model);
}

/** Returns what is wrong with the request, or null. */
export function validateGeminiRequest(model: string, body: any): string | null {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'Invalid JSON payload received.';
  for (const k of Object.keys(body)) if (!TOP_LEVEL.has(k)) return `Invalid JSON payload received. Unknown name "${k}": Cannot find field.`;
  for (const k of Object.keys(body.generationConfig ?? {})) if (!GENERATION_CONFIG.has(k)) return `Invalid JSON payload received. Unknown name "${k}" at 'generation_config': Cannot find field.`;
  const tc = body.generationConfig?.thinkingConfig;
  if (tc && tc.thinkingLevel !== undefined && tc.thinkingBudget !== undefined) return 'thinking_budget and thinking_level are not supported together.';
  if (body.systemInstruction && !Array.isArray(body.systemInstruction.parts)) return "Invalid value at 'system_instruction': parts required";
  if (!Array.isArray(body.contents) || body.contents.length === 0) return '* GenerateContentRequest.contents: contents is not specified';
  if (/^gemma-/.test(model) && body.systemInstruction) return `Developer instruction is not enabled for models/${model}`;
  for (const [i, t] of (body.tools ?? []).entries()) {
    for (const [j, d] of (t?.functionDeclarations ?? []).entries()) {
      if (typeof d?.name !== 'string' || !/^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$/.test(d.name)) return `* GenerateContentRequest.tools[${i}].function_declarations[${j}].name: Invalid function name.`;
      if (d.parameters && d.parametersJsonSchema) return `* GenerateContentRequest.tools[${i}].function_declarations[${j}]: parameters and parameters_json_schema are mutually exclusive`;
    }
  }
  const mode = body.toolConfig?.functionCallingConfig?.mode;
  if (mode !== undefined && !['AUTO', 'ANY', 'NONE', 'VALIDATED'].includes(mode)) return `Invalid value at 'tool_config.function_calling_config.mode' (${mode})`;

  // The current turn starts after the last user content that is not only function responses.
  let currentTurnStart = 0;
  body.contents.forEach((c: any, i: number) => {
    if (c?.role === 'user' && (c.parts ?? []).some((p: any) => !p?.functionResponse)) currentTurnStart = i;
  });
  let previousCalls: string[] = [];
  for (const [i, c] of body.contents.entries()) {
    if (c?.role !== 'user' && c?.role !== 'model') return `Please use a valid role: user, model. (contents[${i}].role = ${JSON.stringify(c?.role)})`;
    if (!Array.isArray(c.parts) || c.parts.length === 0) return `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.`;
    const calls: string[] = [];
    const responses: string[] = [];
    let firstCallInContent = true;
    for (const [j, p] of c.parts.entries()) {
      const at = `contents[${i}].parts[${j}]`;
      for (const k of Object.keys(p ?? {})) if (!PART_DATA.includes(k) && !PART_META.has(k)) return `Invalid JSON payload received. Unknown name "${k}" at '${at}': Cannot find field.`;
      const data = PART_DATA.filter((k) => p[k] !== undefined);
      if (data.length !== 1) return `* GenerateContentRequest.${at}.data: required oneof field 'data' must have one initialized field`;
      if (p.inlineData && !(p.inlineData.mimeType && typeof p.inlineData.data === 'string')) return `* GenerateContentRequest.${at}.inline_data: mime_type and data are required`;
      // Google knows image/jpeg only: "Unsupported MIME type: image/jpg".
      for (const media of [p.inlineData, p.fileData]) if (media?.mimeType === 'image/jpg') return 'Unsupported MIME type: image/jpg';
      if (p.fileData && !(p.fileData.mimeType && p.fileData.fileUri)) return `* GenerateContentRequest.${at}.file_data: mime_type and file_uri are required`;
      if (p.functionCall) {
        if (c.role !== 'model') return `* GenerateContentRequest.${at}: function_call is only allowed in model turns`;
        if (p.functionCall.args !== undefined && (typeof p.functionCall.args !== 'object' || Array.isArray(p.functionCall.args))) return `Invalid value at '${at}.function_call.args' (type.googleapis.com/google.protobuf.Struct)`;
        if (isGemini3(model) && i > currentTurnStart && firstCallInContent && !p.thoughtSignature) {
          return `Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call \`${at}\``;
        }
        firstCallInContent = false;
        calls.push(p.functionCall.name);
      }
      if (p.functionResponse) {
        if (c.role !== 'user') return `* GenerateContentRequest.${at}: function_response is only allowed in user turns`;
        if (!p.functionResponse.response || typeof p.functionResponse.response !== 'object' || Array.isArray(p.functionResponse.response)) return `Invalid value at '${at}.function_response.response' (type.googleapis.com/google.protobuf.Struct)`;
        responses.push(p.functionResponse.name);
      }
    }
    if (responses.length) {
      if (responses.length !== previousCalls.length) return 'Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.';
      const unmatched = responses.find((n) => !previousCalls.includes(n));
      if (unmatched) return `Function response "${unmatched}" does not match any function call of the previous turn.`;
    }
    previousCalls = c.role === 'model' ? calls : [];
  }
  return null;
}

function lastUserText(body: any): string {
  const last = [...(body?.contents ?? [])].reverse().find((c: any) => c?.role === 'user' && (c.parts ?? []).some((p: any) => typeof p?.text === 'string'));
  return (last?.parts ?? []).map((p: any) => p?.text ?? '').join(' ');
}

export async function startFakeGemini(opts: FakeGeminiOptions = {}): Promise<FakeGemini> {
  let scenario: GeminiScenario = opts.scenario ?? 'simple';
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
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
      res.end(text);
    };
    const url = new URL(path, 'http://fake');
    const m = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(url.pathname);
    if (req.method !== 'POST' || !m) return sendJson(404, googleError(404, `Not found: ${req.method} ${url.pathname}`));
    const model = decodeURIComponent(m[1]!);
    const streaming = m[2] === 'streamGenerateContent';
    const key = req.headers['x-goog-api-key'] ?? url.searchParams.get('key');
    if (!key) return sendJson(403, JSON.stringify({ error: { code: 403, message: 'Method doesn\'t allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.', status: 'PERMISSION_DENIED' } }));
    if (opts.apiKey !== undefined && key !== opts.apiKey) return sendJson(400, read('error-400-api-key.json'));
    if (!String(req.headers['content-type'] ?? '').includes('application/json')) return sendJson(400, googleError(400, 'Invalid JSON payload received. Expected application/json.'));
    const problem = body === null ? 'Invalid JSON payload received.' : validateGeminiRequest(model, body);
    if (problem) return sendJson(400, googleError(400, problem));

    const marker = /scenario:([a-z0-9-]+)/.exec(lastUserText(body))?.[1] as GeminiScenario | undefined;
    const current = marker ?? scenario;
    const err = ERRORS[current];
    if (err) return sendJson(err.status, read(err.file), err.headers);
    const files = FILES[current];
    if (!files) return sendJson(400, googleError(400, `fake-gemini: unknown scenario "${current}"`));
    const withModel = (text: string) => text.replace(/"modelVersion": ?"[^"]*"/g, `"modelVersion": ${JSON.stringify(model)}`);
    if (!streaming) {
      if (current === 'stream-error') return sendJson(503, read('error-503.json'));
      return sendJson(200, withModel(read(files.json)));
    }
    const events = (files.sse ? read(files.sse) : `data: ${JSON.stringify(JSON.parse(read(files.json)))}\n\n`)
      .split(/\r?\n\r?\n+/)
      .filter((e) => e.trim())
      .map(withModel);
    if (url.searchParams.get('alt') !== 'sse') {
      // Without alt=sse Gemini streams one JSON array; the adapter must ask for SSE.
      return sendJson(200, `[${events.map((e) => e.replace(/^data: /, '')).join(',\n')}]`);
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (const event of events) {
      if (res.destroyed) return;
      res.write(`${event}\r\n\r\n`);
      if (delay) await new Promise((r) => setTimeout(r, delay));
    }
    res.end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(googleError(500, String(e)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1beta`,
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
