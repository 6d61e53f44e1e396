import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.ts';

// Gemini 3 gives every functionCall an `id` and asks for it back on the functionResponse:
// two parallel calls of one function are told apart only by it. The gateway used to mint
// its own tool call ids and send neither id back.
// https://ai.google.dev/gemini-api/docs/function-calling

const CALLS = {
  candidates: [{
    content: {
      role: 'model',
      parts: [
        { functionCall: { id: 'fc-paris-7k2', name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: 'c2lnLXBhcmlz' },
        { functionCall: { id: 'fc-rome-9q4', name: 'get_weather', args: { city: 'Rome' } } },
      ],
    },
    finishReason: 'STOP',
  }],
  usageMetadata: { promptTokenCount: 20, candidatesTokenCount: 10, totalTokenCount: 30 },
  modelVersion: 'gemini-3-pro-preview',
  responseId: 'resp-1',
};
const ANSWER = { candidates: [{ content: { role: 'model', parts: [{ text: 'Sunny in both.' }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 40, candidatesTokenCount: 5 }, modelVersion: 'gemini-3-pro-preview' };
const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

describe('Gemini functionCall ids round-trip through OpenAI tool call ids', () => {
  let server: Server;
  let tg: TestGateway;
  let client: OpenAI;
  const received: any[] = [];

  before(async () => {
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (c) => (text += c));
      req.on('end', () => {
        const body = JSON.parse(text);
        received.push(body);
        const answer = body.contents.some((c: any) => c.parts.some((p: any) => p.functionResponse)) ? ANSWER : CALLS;
        if (req.url!.includes(':streamGenerateContent')) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end(`data: ${JSON.stringify(answer)}\r\n\r\n`);
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(answer));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    tg = await startTestGateway({
      config: {
        providers: [{ id: 'gemini', kind: 'gemini', base_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1beta`, api_key: 'gemini-upstream-key' }],
        models: [{ id: 'gemini-3-pro', upstreams: [{ provider: 'gemini', model: 'gemini-3-pro-preview' }], pricing: { input: '2', output: '12' } }],
      },
    });
    client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: (await tg.customer()).key, maxRetries: 0 });
  });
  after(async () => {
    await tg?.close();
    server?.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  for (const stream of [false, true]) {
    test(`${stream ? 'streamed' : 'whole'} answer: the ids name Gemini's calls, and come back on both functionCall and functionResponse`, async () => {
      const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather in Paris and Rome?' }];
      const first = stream
        ? await client.chat.completions.stream({ model: 'gemini-3-pro', messages, tools }).finalChatCompletion()
        : await client.chat.completions.create({ model: 'gemini-3-pro', messages, tools });
      const calls = first.choices[0]!.message.tool_calls!;
      assert.equal(calls.length, 2);
      assert.match(calls[0]!.id, /^fc-paris-7k2(__ts__|$)/);
      assert.equal(calls[1]!.id, 'fc-rome-9q4');

      // The tool results come back in the other order, as agents running calls in parallel send them.
      received.length = 0;
      await client.chat.completions.create({
        model: 'gemini-3-pro',
        tools,
        messages: [
          ...messages,
          first.choices[0]!.message as ChatCompletionMessageParam,
          { role: 'tool', tool_call_id: calls[1]!.id, content: '{"sky":"clear"}' },
          { role: 'tool', tool_call_id: calls[0]!.id, content: '{"sky":"sunny"}' },
        ],
      });
      const [model, results] = received[0].contents.slice(1);
      assert.deepEqual(model.parts.map((p: any) => p.functionCall.id), ['fc-paris-7k2', 'fc-rome-9q4']);
      assert.equal(model.parts[0].thoughtSignature, 'c2lnLXBhcmlz');
      assert.deepEqual(results.parts.map((p: any) => [p.functionResponse.id, p.functionResponse.response]), [['fc-rome-9q4', { sky: 'clear' }], ['fc-paris-7k2', { sky: 'sunny' }]]);
    });
  }

  test('a tool message whose call is not in the history (only its name is known) carries no id', async () => {
    received.length = 0;
    await client.chat.completions.create({
      model: 'gemini-3-pro',
      tools,
      messages: [{ role: 'user', content: 'hi' }, { role: 'tool', tool_call_id: 'elsewhere-1', name: 'get_weather', content: 'ok' } as any],
    });
    const fr = received[0].contents.at(-1).parts.at(-1).functionResponse;
    assert.equal(fr.name, 'get_weather');
    assert.equal('id' in fr, false);
  });
});
