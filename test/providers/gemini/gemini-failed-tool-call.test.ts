import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.ts';

// Gemini ends a turn whose function call it could not produce with finishReason
// MALFORMED_FUNCTION_CALL (or UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS) and no usable
// content. The gateway answered an empty message with finish_reason "stop", so agent loops
// (Vercel AI SDK, LangChain, Cursor) took it as the model's final word and stopped
// silently; it is an upstream error now, which clients report and the OpenAI SDKs retry.

const answer = (finishReason: string) => ({
  candidates: [{ content: { role: 'model', parts: [] }, finishReason, index: 0 }],
  usageMetadata: { promptTokenCount: 812, candidatesTokenCount: 0, totalTokenCount: 812 },
  modelVersion: 'gemini-2.5-flash',
  responseId: 'resp-1',
});

let up: Server;
let tg: TestGateway;
let client: OpenAI;
let reason = 'MALFORMED_FUNCTION_CALL';

before(async () => {
  up = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url!.includes(':streamGenerateContent')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(`data: ${JSON.stringify(answer(reason))}\r\n\r\n`);
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer(reason)));
      }
    });
  });
  await new Promise<void>((resolve) => up.listen(0, '127.0.0.1', resolve));
  tg = await startTestGateway({
    config: {
      providers: [{ id: 'gemini', kind: 'gemini', base_url: `http://127.0.0.1:${(up.address() as AddressInfo).port}`, api_key: 'gemini-upstream-key' }],
      models: [{ id: 'gemini-flash', upstreams: [{ provider: 'gemini', model: 'gemini-2.5-flash' }], pricing: { input: '0.3', output: '2.5' } }],
    },
  });
  client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: (await tg.customer()).key, maxRetries: 0 });
});
after(async () => {
  await tg?.close();
  await new Promise((resolve) => up?.close(resolve));
});

const request = { model: 'gemini-flash', messages: [{ role: 'user' as const, content: 'Weather in Paris?' }], tools: [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }] };

for (const r of ['MALFORMED_FUNCTION_CALL', 'UNEXPECTED_TOOL_CALL']) {
  test(`${r}: a 502 upstream_error naming it, not an empty "stop" answer`, async () => {
    reason = r;
    await assert.rejects(client.chat.completions.create(request), (err: any) => {
      assert.equal(err.status, 502);
      assert.equal(err.code, 'upstream_error');
      assert.match(err.message, new RegExp(r));
      return true;
    });
  });
}

test('MALFORMED_FUNCTION_CALL in a stream: an error frame, no finish_reason "stop"', async () => {
  reason = 'MALFORMED_FUNCTION_CALL';
  const stream = await client.chat.completions.create({ ...request, stream: true });
  const finishes: unknown[] = [];
  await assert.rejects(async () => {
    for await (const c of stream) if (c.choices[0]?.finish_reason) finishes.push(c.choices[0].finish_reason);
  }, /MALFORMED_FUNCTION_CALL/);
  assert.deepEqual(finishes, []);
});
