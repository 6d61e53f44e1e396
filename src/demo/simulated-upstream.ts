import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';

// A SIMULATED OpenAI-compatible upstream for `tollgate demo`: it invents its answers.
// It exists so a newcomer can watch the gateway stream without a provider key, and is
// never configured by `tollgate serve`.

const ANSWER =
  'Hello from the simulated upstream! Tollgate authenticated your key, checked your plan, reserved the cost, relayed this stream token by token, and will settle the exact charge when it ends.';

function words(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [];
}

export interface SimulatedUpstream {
  baseUrl: string;
  close(): Promise<void>;
}

export async function startSimulatedUpstream(opts: { delayMs?: number } = {}): Promise<SimulatedUpstream> {
  const delay = opts.delayMs ?? 40;
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      let body: any;
      try {
        body = JSON.parse(raw);
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'invalid JSON', type: 'invalid_request_error', param: null, code: null } }));
        return;
      }
      if (req.url === '/v1/embeddings') {
        const inputs: string[] = Array.isArray(body.input) ? body.input : [body.input];
        const data = inputs.map((s, index) => ({ object: 'embedding', index, embedding: Array.from({ length: 8 }, (_, i) => ((String(s).length * (i + 1)) % 97) / 97) }));
        const tokens = inputs.reduce((n, s) => n + Math.ceil(String(s).length / 4), 0);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } }));
        return;
      }
      if (req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found', type: 'invalid_request_error', param: null, code: null } }));
        return;
      }
      const promptChars = JSON.stringify(body.messages ?? []).length;
      const prompt = Math.max(1, Math.ceil(promptChars / 4));
      const max = typeof body.max_completion_tokens === 'number' ? body.max_completion_tokens : typeof body.max_tokens === 'number' ? body.max_tokens : Infinity;
      const parts = words(ANSWER).slice(0, max);
      const finish = parts.length < words(ANSWER).length ? 'length' : 'stop';
      const usage = { prompt_tokens: prompt, completion_tokens: parts.length, total_tokens: prompt + parts.length, prompt_tokens_details: { cached_tokens: 0 } };
      const id = `chatcmpl-sim-${randomUUID()}`;
      const created = Math.floor(Date.now() / 1000);
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({ id, object: 'chat.completion', created, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: parts.join('') }, finish_reason: finish }], usage }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const withUsage = body.stream_options?.include_usage === true;
      const u = withUsage ? ',"usage":null' : '';
      const frame = (delta: object, finishReason: string | null) =>
        `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(body.model)},"choices":[{"index":0,"delta":${JSON.stringify(delta)},"finish_reason":${JSON.stringify(finishReason)}}]${u}}\n\n`;
      const frames = [frame({ role: 'assistant', content: '' }, null), ...parts.map((p) => frame({ content: p }, null)), frame({}, finish)];
      if (withUsage) frames.push(`data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(body.model)},"choices":[],"usage":${JSON.stringify(usage)}}\n\n`);
      frames.push('data: [DONE]\n\n');
      let i = 0;
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        res.write(frames[i++]);
        if (i === frames.length) {
          clearInterval(timer);
          res.end();
        }
      }, delay);
      res.on('close', () => clearInterval(timer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
