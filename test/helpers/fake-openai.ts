import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

// A fake OpenAI-compatible upstream: a real HTTP server on 127.0.0.1 speaking the real
// wire format (chat.completion, chat.completion.chunk SSE with `"usage":null` on every
// chunk when include_usage is set, DeepSeek-style cache fields on request). Tests steer
// it per request with `behaviour`, and read back what it received in `requests`.

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
  /** The body exactly as it arrived. */
  text: string;
  /** Set when the client (the gateway) went away before the response finished. */
  aborted: boolean;
}

export interface Behaviour {
  /** Text of the answer, split into one chunk per word when streaming. */
  text?: string;
  usage?: Record<string, unknown> | null;
  /** Upstream style of cache counts: 'openai' (prompt_tokens_details) or 'deepseek'. */
  cacheStyle?: 'openai' | 'deepseek';
  cachedTokens?: number;
  promptTokens?: number;
  completionTokens?: number;
  status?: number;
  errorBody?: unknown;
  headers?: Record<string, string>;
  /** Milliseconds before the response starts. */
  delayMs?: number;
  /** Milliseconds between stream chunks. */
  chunkDelayMs?: number;
  /** Non-streaming: send the headers and half the body, and the rest this many ms later. */
  bodyHalfDelayMs?: number;
  /** Streams: after the last frame, keep the response open this many ms before ending it. */
  lingerAfterDoneMs?: number;
  /** Streams: send the response headers at once and the first frame this many ms later. */
  firstFrameDelayMs?: number;
  /** Never answer. */
  hang?: boolean;
  /** Answer once this settles (lets a test hold every request at the upstream). */
  holdUntil?: Promise<unknown>;
  /** Stream: stop (destroy the socket) after this many content chunks. */
  dieAfterChunks?: number;
  /** Reply with a non-JSON body. */
  garbage?: boolean;
  /** Reply 200 (or `status`) with exactly this body and `contentType` (default application/json). */
  rawBody?: string;
  contentType?: string;
  toolCalls?: Array<{ id: string; name: string; arguments: string }>;
  /** The model name the upstream reports (default: what was asked). */
  reportModel?: string;
  /** Check tool call ids as OpenAI does (at most 40 characters; each tool message answers a
   *  call of the assistant message before it, and every call is answered): 400 otherwise. */
  openaiToolCallRules?: boolean;
  /** Ignore max_tokens and produce this many completion tokens. */
  finishReason?: string;
}

export interface FakeOpenAI {
  baseUrl: string;
  port: number;
  requests: ReceivedRequest[];
  /** TCP connections accepted so far, and how many of them have closed. */
  connections: { opened: number; closed: number };
  /** Behaviour for the next requests (until changed). */
  behave(b: Behaviour): void;
  close(): Promise<void>;
  /** Resolves when a request (the `fromIndex`th received or a later one) has been aborted by the gateway. */
  waitForAbort(timeoutMs?: number, fromIndex?: number): Promise<ReceivedRequest>;
}

function usageFor(b: Behaviour, body: any): Record<string, unknown> {
  if (b.usage) return b.usage;
  const words = (b.text ?? 'Hello there, friend!').split(' ').length;
  const prompt = b.promptTokens ?? Math.max(1, Math.ceil(JSON.stringify(body.messages ?? body.input ?? '').length / 4));
  const completion = b.completionTokens ?? (body.input !== undefined ? 0 : words);
  const cached = b.cachedTokens ?? 0;
  const u: Record<string, unknown> = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (b.cacheStyle === 'deepseek') {
    u.prompt_cache_hit_tokens = cached;
    u.prompt_cache_miss_tokens = prompt - cached;
  } else {
    u.prompt_tokens_details = { cached_tokens: cached };
  }
  return u;
}

/** What OpenAI answers 400 about in a conversation's tool call ids, or null. */
export function openaiToolCallProblem(messages: unknown): { message: string; param: string; code: string | null } | null {
  if (!Array.isArray(messages)) return null;
  let open: string[] = [];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const tooLong = (param: string, id: unknown) =>
      typeof id === 'string' && id.length > 40 ? { message: `Invalid '${param}': string too long. Expected a string with maximum length 40, but got a string with length ${id.length} instead.`, param, code: 'string_above_max_length' } : null;
    if (m?.role === 'tool') {
      const p = tooLong(`messages[${i}].tool_call_id`, m.tool_call_id);
      if (p) return p;
      if (!open.includes(m.tool_call_id)) return { message: "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", param: `messages.[${i}].role`, code: null };
      open = open.filter((id) => id !== m.tool_call_id);
      continue;
    }
    if (open.length) return { message: `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${open.join(', ')}`, param: 'messages', code: null };
    if (m?.role === 'assistant' && Array.isArray(m.tool_calls)) {
      for (let j = 0; j < m.tool_calls.length; j++) {
        const p = tooLong(`messages[${i}].tool_calls[${j}].id`, m.tool_calls[j]?.id);
        if (p) return p;
      }
      open = m.tool_calls.map((c: any) => c?.id);
    }
  }
  return null;
}

export async function startFakeOpenAI(initial: Behaviour = {}): Promise<FakeOpenAI> {
  let behaviour: Behaviour = initial;
  const requests: ReceivedRequest[] = [];
  /** Each returns true when it took the aborted request (and is then removed). */
  const abortWaiters: Array<(r: ReceivedRequest) => boolean> = [];
  // Pending response timers, cleared on close so a delayed answer cannot keep the process alive.
  const timers = new Set<NodeJS.Timeout>();
  const later = (fn: () => void, ms: number) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const b = behaviour;
    let body: any = null;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      /* recorded as null */
    }
    const rec: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, text: raw, aborted: false };
    requests.push(rec);
    res.on('close', () => {
      if (!res.writableFinished) {
        rec.aborted = true;
        for (let i = abortWaiters.length - 1; i >= 0; i--) if (abortWaiters[i]!(rec)) abortWaiters.splice(i, 1);
      }
    });
    if (b.hang) return;
    const toolProblem = b.openaiToolCallRules ? openaiToolCallProblem(body?.messages) : null;
    if (toolProblem) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: toolProblem.message, type: 'invalid_request_error', param: toolProblem.param, code: toolProblem.code } }));
      return;
    }
    const respond = () => {
      if (res.destroyed) return;
      if (b.rawBody !== undefined) {
        res.writeHead(b.status ?? 200, { 'content-type': b.contentType ?? 'application/json', ...(b.headers ?? {}) });
        res.end(b.rawBody);
        return;
      }
      if (b.status && b.status >= 400) {
        res.writeHead(b.status, { 'content-type': 'application/json', ...(b.headers ?? {}) });
        res.end(JSON.stringify(b.errorBody ?? { error: { message: `fake upstream error ${b.status}`, type: 'server_error', param: null, code: null } }));
        return;
      }
      if (b.garbage) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('<html>not json</html>');
        return;
      }
      if (req.url?.endsWith('/embeddings')) {
        const inputs = Array.isArray(body.input) ? body.input : [body.input];
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: inputs.map((_: unknown, index: number) => ({ object: 'embedding', index, embedding: [0.1, 0.2, 0.3] })), model: b.reportModel ?? body.model, usage: usageFor(b, body) }));
        return;
      }
      const model = b.reportModel ?? body.model;
      const id = 'chatcmpl-fake123';
      const created = 1_734_220_000;
      const text = b.text ?? 'Hello there, friend!';
      const usage = usageFor(b, body);
      const finish = b.finishReason ?? (b.toolCalls ? 'tool_calls' : 'stop');
      if (!body.stream) {
        const message: Record<string, unknown> = { role: 'assistant', content: b.toolCalls ? null : text };
        if (b.toolCalls) message.tool_calls = b.toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } }));
        const json = JSON.stringify({ id, object: 'chat.completion', created, model, system_fingerprint: 'fp_fake', choices: [{ index: 0, message, logprobs: null, finish_reason: finish }], usage });
        res.writeHead(200, { 'content-type': 'application/json' });
        if (b.bodyHalfDelayMs) {
          const half = Math.floor(json.length / 2);
          res.write(json.slice(0, half));
          later(() => res.end(json.slice(half)), b.bodyHalfDelayMs);
          return;
        }
        res.end(json);
        return;
      }
      const withUsage = body.stream_options?.include_usage === true;
      const chunk = (delta: unknown, finishReason: string | null) =>
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_fake', choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }], ...(withUsage ? { usage: null } : {}) })}\n\n`;
      const frames: string[] = [chunk({ role: 'assistant', content: '' }, null)];
      if (b.toolCalls) {
        b.toolCalls.forEach((t, index) => {
          frames.push(chunk({ tool_calls: [{ index, id: t.id, type: 'function', function: { name: t.name, arguments: '' } }] }, null));
          const half = Math.ceil(t.arguments.length / 2);
          frames.push(chunk({ tool_calls: [{ index, function: { arguments: t.arguments.slice(0, half) } }] }, null));
          frames.push(chunk({ tool_calls: [{ index, function: { arguments: t.arguments.slice(half) } }] }, null));
        });
      } else {
        const words = text.split(' ');
        words.forEach((w, i) => frames.push(chunk({ content: i === 0 ? w : ` ${w}` }, null)));
      }
      frames.push(chunk({}, finish));
      if (withUsage) frames.push(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_fake', choices: [], usage })}\n\n`);
      frames.push('data: [DONE]\n\n');
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let i = 0;
      const dieAt = b.dieAfterChunks === undefined ? Infinity : b.dieAfterChunks + 1; // + the role chunk
      const next = () => {
        if (res.destroyed) return;
        if (i >= dieAt) {
          res.destroy();
          return;
        }
        if (i >= frames.length) {
          if (b.lingerAfterDoneMs) later(() => res.end(), b.lingerAfterDoneMs);
          else res.end();
          return;
        }
        res.write(frames[i++]);
        if (b.chunkDelayMs) later(next, b.chunkDelayMs);
        else next();
      };
      if (b.firstFrameDelayMs) {
        res.flushHeaders();
        later(next, b.firstFrameDelayMs);
      } else next();
    };
    if (b.holdUntil) void b.holdUntil.then(respond);
    else if (b.delayMs) later(respond, b.delayMs);
    else respond();
  };

  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (raw += c));
    req.on('end', () => handle(req, res, raw));
  });
  const connections = { opened: 0, closed: 0 };
  server.on('connection', (socket) => {
    connections.opened++;
    socket.once('close', () => connections.closed++);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    connections,
    behave(b) {
      behaviour = b;
    },
    waitForAbort(timeoutMs = 5000, fromIndex = 0) {
      const done = requests.slice(fromIndex).find((r) => r.aborted);
      if (done) return Promise.resolve(done);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('upstream saw no abort')), timeoutMs);
        abortWaiters.push((r) => {
          if (requests.indexOf(r) < fromIndex) return false;
          clearTimeout(t);
          resolve(r);
          return true;
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
