// A fast OpenAI-compatible fake upstream for benchmarks. No dependencies.
//
//   node bench/fake-upstream.ts --port 9100
//
// POST /v1/chat/completions
//   - parses the JSON body (as a real upstream does; invalid JSON -> 400)
//   - non-streaming: a small chat.completion with usage
//   - stream:true: 20 chat.completion.chunk frames, then a usage frame when
//     stream_options.include_usage is set, then `data: [DONE]`
// GET /healthz -> 200 "ok"

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export const STREAM_CHUNKS = 20;
const PROMPT_TOKENS = 12;
const CACHED_TOKENS = 4;
const COMPLETION_TOKENS = STREAM_CHUNKS * 3;
// Each frame carries a few tokens, as real streams do.
const CHUNK_TEXT = ['Hello there,', ' this is', ' a bench', 'mark reply', ' from the', ' fake up', 'stream.', ' It says', ' nothing', ' at all.'];

export interface FakeUpstream {
  port: number;
  close(): Promise<void>;
}

interface ChatBody {
  model?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown } | null;
}

function usage(): Record<string, unknown> {
  return {
    prompt_tokens: PROMPT_TOKENS,
    completion_tokens: COMPLETION_TOKENS,
    total_tokens: PROMPT_TOKENS + COMPLETION_TOKENS,
    prompt_tokens_details: { cached_tokens: CACHED_TOKENS },
  };
}

let idCounter = 0;

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(data),
  });
  res.end(data);
}

function handleChat(_req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
  let body: ChatBody;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    body = parsed as ChatBody;
  } catch {
    sendJson(res, 400, {
      error: { message: 'invalid JSON body', type: 'invalid_request_error', param: null, code: null },
    });
    return;
  }
  const model = typeof body.model === 'string' ? body.model : 'fake-model';
  const id = `chatcmpl-bench${(++idCounter).toString(36)}`;
  const created = Math.floor(Date.now() / 1000);

  if (body.stream !== true) {
    sendJson(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello there, this is a benchmark reply.' },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: usage(),
      system_fingerprint: 'fp_bench',
    });
    return;
  }

  const includeUsage = body.stream_options != null && body.stream_options.include_usage === true;
  const head = `{"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"system_fingerprint":"fp_bench",`;
  let out = '';
  for (let i = 0; i < STREAM_CHUNKS; i++) {
    const delta: Record<string, string> = { content: CHUNK_TEXT[i % CHUNK_TEXT.length] };
    if (i === 0) delta.role = 'assistant';
    const finish = i === STREAM_CHUNKS - 1 ? '"stop"' : 'null';
    out += `data: ${head}"choices":[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finish}}]}\n\n`;
  }
  if (includeUsage) {
    out += `data: ${head}"choices":[],"usage":${JSON.stringify(usage())}}\n\n`;
  }
  out += 'data: [DONE]\n\n';
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
  });
  // The whole stream is sent at once: the fake adds no delay of its own, so
  // the bench measures the gateway's per-frame work, not upstream pacing.
  res.end(out);
}

function onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '/';
  const path = url.split('?', 1)[0];
  if (req.method === 'POST' && (path === '/v1/chat/completions' || path === '/chat/completions')) {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handleChat(req, res, Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => res.destroy());
    return;
  }
  req.resume();
  if (req.method === 'GET' && (path === '/healthz' || path === '/')) {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
    res.end('ok');
    return;
  }
  if (req.method === 'GET' && path === '/v1/models') {
    sendJson(res, 200, { object: 'list', data: [{ id: 'bench-upstream-model', object: 'model', created: 0, owned_by: 'bench' }] });
    return;
  }
  sendJson(res, 404, { error: { message: `no route ${req.method} ${path}`, type: 'not_found', param: null, code: null } });
}

export function startFakeUpstream(port = 0, host = '127.0.0.1'): Promise<FakeUpstream> {
  const server = http.createServer({ keepAliveTimeout: 65_000 }, onRequest);
  server.headersTimeout = 66_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      resolve({
        port: addr.port,
        close: () =>
          new Promise<void>((res) => {
            server.closeAllConnections();
            server.close(() => res());
          }),
      });
    });
  });
}

function parsePortArg(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port' && i + 1 < argv.length) return Number(argv[i + 1]);
    if (a.startsWith('--port=')) return Number(a.slice('--port='.length));
  }
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const port = parsePortArg(process.argv.slice(2));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error('usage: node bench/fake-upstream.ts [--port N]');
    process.exit(2);
  }
  const up = await startFakeUpstream(port);
  // The first stdout line is machine-readable for bench/run.ts.
  console.log(`fake-upstream listening on 127.0.0.1:${up.port}`);
  const stop = (): void => {
    void up.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
