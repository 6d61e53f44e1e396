import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { UPSTREAM_SECRET } from '../helpers/http.ts';

// An OpenAI-wire upstream gets the client's request body as the client's bytes
// (protocol/byte-strings.ts), edited only where the gateway sets a member. These send
// what an ASCII body never has: Chinese text and emoji, bytes that are not UTF-8, and
// an upstream model name that is not ASCII, and look at the bytes that arrive.

describe('request bodies relayed as bytes', () => {
  const received: Buffer[] = [];
  let server: http.Server;
  let tg: TestGateway;
  let key: string;

  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        received.push(body);
        const answer = req.url!.endsWith('/embeddings')
          ? { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.5] }], model: 'e', usage: { prompt_tokens: 2, total_tokens: 2 } }
          : { id: 'c', object: 'chat.completion', created: 1, model: 'x', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 } };
        const text = JSON.stringify(answer);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    tg = await startTestGateway({
      config: {
        providers: [{ id: 'p', kind: 'openai', base_url: baseUrl, api_key: UPSTREAM_SECRET }],
        models: [
          { id: 'm', upstreams: [{ provider: 'p', model: 'upstream-flash' }], pricing: { input: '0.16', output: '0.30' } },
          // A cap of its own, so that none is added to the body (providers/types.ts imposedOutputCap).
          { id: 'zh', max_output_tokens: 8192, upstreams: [{ provider: 'p', model: '深度-模型' }], pricing: { input: '0.16', output: '0.30' } },
          { id: 'e', type: 'embedding', upstreams: [{ provider: 'p', model: 'emb-up' }], pricing: { input: '0.02', output: '0' } },
        ],
      },
    });
    ({ key } = await tg.customer());
  });
  after(async () => {
    await tg.close();
    await new Promise((r) => server.close(r));
  });

  const send = async (path: string, body: Buffer) => {
    const n = received.length;
    const res = await fetch(`${tg.url}/v1/${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.equal(received.length, n + 1);
    return received[n]!;
  };

  test('Chinese text and emoji reach the upstream as the client\'s bytes, but for the members the gateway sets', async () => {
    const body = '{"messages": [{"role": "user", "content": "你好，世界 👍🏽 \\"引号\\" é"}], "model": "m", "max_tokens": 5}';
    const got = await send('chat/completions', Buffer.from(body));
    assert.equal(got.toString('utf8'), body.replace('"model": "m"', '"model": "upstream-flash"'));
  });

  test('an upstream model name that is not ASCII is written as UTF-8, and named in a percent-encoded header', async () => {
    const body = '{"model": "zh", "messages": [{"role": "user", "content": "好"}]}';
    const res = await fetch(`${tg.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(decodeURIComponent(res.headers.get('x-tollgate-upstream-model')!), '深度-模型');
    assert.equal(JSON.parse(await res.text()).model, 'zh');
    assert.equal(received.at(-1)!.toString('utf8'), '{"model": "深度-模型", "messages": [{"role": "user", "content": "好"}]}');
  });

  test('a member named twice reaches the upstream once, as the gateway read it (the last), whatever parser the upstream has', async () => {
    const body = '{"model": "m", "messages": [{"role": "user", "content": "first, long and unchecked"}], "messages": [{"role": "user", "content": "second"}]}';
    const got = (await send('chat/completions', Buffer.from(body))).toString('utf8');
    assert.ok(!got.includes('first'), got);
    assert.deepEqual(JSON.parse(got).messages, [{ role: 'user', content: 'second' }]);
  });

  test('bytes that are not UTF-8 in a string reach the upstream as they came', async () => {
    const body = Buffer.concat([Buffer.from('{"model": "m", "messages": [{"role": "user", "content": "a'), Buffer.from([0xff, 0xfe]), Buffer.from('b"}]}')]);
    const got = await send('chat/completions', body);
    assert.ok(got.indexOf(Buffer.from([0x61, 0xff, 0xfe, 0x62])) > 0, got.toString('latin1'));
    assert.equal(got.indexOf(Buffer.from('\ufffd')), -1, 'no replacement characters');
  });

  test('embeddings input in Chinese reaches the upstream as the client\'s bytes', async () => {
    const body = '{"input": ["嵌入 测试", "第二"], "model": "e"}';
    const got = await send('embeddings', Buffer.from(body));
    assert.equal(got.toString('utf8'), '{"input": ["嵌入 测试", "第二"], "model": "emb-up"}');
  });
});
