import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { usdToPico } from '../../src/billing/money.ts';

// A translated stream cut (by the upstream) after the upstream reported what the answer
// cost is billed that report, not an estimate from its visible text. Gemini reports the
// usage so far on every chunk, thinking included: Gemini 2.5 thinks before its first
// visible token, so a stream left after one token had cost thousands of thinking tokens
// and was billed four. Anthropic reports the output at message_delta, before message_stop.

/** The SSE events the upstream sends next, after which it resets the connection. */
let script: string[] = [];
const server: Server = createServer((req, res) => {
  req.resume();
  req.on('end', async () => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const e of script) {
      res.write(e);
      await new Promise((r) => setTimeout(r, 5));
    }
    res.socket?.resetAndDestroy();
  });
});

const gemini = (text: string, candidates: number) =>
  `data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0 }], usageMetadata: { promptTokenCount: 100, candidatesTokenCount: candidates, thoughtsTokenCount: 6000, totalTokenCount: 6100 + candidates }, modelVersion: 'gemini-2.5-flash' })}\r\n\r\n`;
const anthropic = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

describe('a translated stream cut after its usage was reported', () => {
  let tg: TestGateway;
  let key: string;
  let accountId: string;

  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    tg = await startTestGateway({
      config: {
        providers: [
          { id: 'anthropic', kind: 'anthropic', base_url: `${url}/v1`, api_key: 'sk-ant-test-key-0123456789' },
          { id: 'gemini', kind: 'gemini', base_url: `${url}/v1beta`, api_key: 'AIza-test-key-0123456789' },
        ],
        models: [
          { id: 'claude', upstreams: [{ provider: 'anthropic', model: 'claude-sonnet-4-5' }], pricing: { input: '3', output: '15' } },
          { id: 'gem', upstreams: [{ provider: 'gemini', model: 'gemini-2.5-flash' }], pricing: { input: '0.3', output: '2.5' } },
        ],
      },
    });
    ({ key, accountId } = await tg.customer());
  });
  after(async () => {
    await tg.close();
    await new Promise((r) => server.close(r));
  });

  /** Streams one request; returns its ledger charge. */
  const charge = async (model: string) => {
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'q' }] }),
    });
    assert.match(await res.text(), /"error"/);
    const id = res.headers.get('x-request-id');
    await tg.gw.rt.journal.flush();
    const entry = (await tg.admin('GET', `/accounts/${accountId}/ledger?limit=1000`)).body.data.find((e: any) => e.request_id === id);
    assert.ok(entry, `a charge for ${id}`);
    return entry;
  };

  test('Gemini: the last usage reported, thinking included', async () => {
    script = [gemini('The answer', 2), gemini(' is long', 4)];
    const c = await charge('gem');
    assert.equal(c.detail.usage_estimated, undefined);
    assert.equal(c.detail.completion_tokens, 6004);
    assert.equal(-usdToPico(c.amount_usd), 100n * 300_000n + 6004n * 2_500_000n);
  });

  test('Anthropic: cut after message_delta, its output count; cut before it, the estimate as before', async () => {
    const start = anthropic('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [], stop_reason: null, usage: { input_tokens: 50, output_tokens: 1 } } });
    const text = [anthropic('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }), anthropic('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Short answer.' } }), anthropic('content_block_stop', { index: 0 })];
    script = [start, ...text, anthropic('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 3000 } })];
    const reported = await charge('claude');
    assert.equal(reported.detail.usage_estimated, undefined);
    assert.equal(-usdToPico(reported.amount_usd), 50n * 3_000_000n + 3000n * 15_000_000n);
    script = [start, ...text];
    const estimated = await charge('claude');
    assert.equal(estimated.detail.usage_estimated, true);
    assert.ok(estimated.detail.completion_tokens < 10, JSON.stringify(estimated.detail));
  });
});
