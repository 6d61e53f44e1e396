import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { UPSTREAM_SECRET } from '../helpers/http.ts';

// Non-streaming answers from an OpenAI-wire upstream are read as bytes, not decoded
// (protocol/byte-strings.ts): the client gets the upstream's bytes with only `model` and
// `usage` replaced. These check what an ASCII answer never shows: Chinese text and
// emoji, bytes that are not UTF-8, a public model id that is not ASCII, and a JSON
// schema whose limits count characters, not bytes.

/** An upstream whose every answer is `body`; it counts the requests it gets. */
async function fixedUpstream(body: Buffer): Promise<{ baseUrl: string; requests: () => number; close(): Promise<void> }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    requests: () => requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const usage = '{"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}';
const answer = (content: Buffer | string, model = 'upstream-flash') =>
  Buffer.concat([
    Buffer.from(`{\n  "id": "chatcmpl-b1",\n  "object": "chat.completion",\n  "model": "${model}",\n  "choices": [{"index": 0, "message": {"role": "assistant", "content": "`),
    Buffer.isBuffer(content) ? content : Buffer.from(content),
    Buffer.from(`"}, "finish_reason": "stop"}],\n  "usage": ${usage}\n}\n`),
  ]);

describe('non-streaming answers relayed as bytes', () => {
  const closers: Array<{ close(): Promise<void> }> = [];
  after(async () => {
    for (const c of closers.reverse()) await c.close();
  });

  const setup = async (body: Buffer, ownedBy?: string) => {
    const up = await fixedUpstream(body);
    closers.push(up);
    const tg: TestGateway = await startTestGateway({
      config: {
        providers: [{ id: 'p', kind: 'openai', base_url: up.baseUrl, api_key: UPSTREAM_SECRET }],
        models: [{ id: 'm', ...(ownedBy ? { owned_by: ownedBy } : {}), upstreams: [{ provider: 'p', model: 'upstream-flash' }], pricing: { input: '0.16', output: '0.30' } }],
      },
    });
    closers.push(tg);
    const { key } = await tg.customer();
    const ask = async (extra: Record<string, unknown> = {}) => {
      const res = await fetch(`${tg.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra }),
      });
      return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), length: res.headers.get('content-length') };
    };
    return { up, ask };
  };

  test('Chinese text and emoji come back as the upstream\'s bytes, only model and usage changed', async () => {
    const content = '你好，世界 👍🏽 café';
    const { ask } = await setup(answer(content));
    const got = await ask();
    assert.equal(got.status, 200);
    assert.equal(Number(got.length), got.bytes.length, 'content-length counts bytes');
    const expected = answer(content, 'm');
    const head = expected.subarray(0, expected.indexOf('"usage"'));
    assert.equal(got.bytes.subarray(0, head.length).toString('utf8'), head.toString('utf8'));
    assert.equal(got.bytes.subarray(0, head.length).equals(head), true);
    const body = JSON.parse(got.bytes.toString('utf8'));
    assert.equal(body.choices[0].message.content, content);
    assert.equal(body.usage.total_tokens, 7);
  });

  test('an answer escaped as \\u sequences (as Python writes JSON) is kept as written', async () => {
    const escaped = '\\u4f60\\u597d \\ud83d\\udc4d';
    const { ask } = await setup(answer(escaped));
    const got = await ask();
    assert.equal(got.status, 200);
    assert.ok(got.bytes.toString('utf8').includes(`"content": "${escaped}"`), got.bytes.toString('utf8'));
    assert.equal(JSON.parse(got.bytes.toString('utf8')).choices[0].message.content, '你好 👍');
  });

  for (const escapes of [false, true]) {
    test(`an answer naming model twice is serialised as valid UTF-8 (raw Chinese text${escapes ? ' and \\u escapes' : ''})`, async () => {
      const content = escapes ? '你好 \\u00e9\\u4e16' : '你好 é世';
      const raw = answer(content).toString('utf8').replace('"model": "upstream-flash",', '"model": "upstream-flash", "model": "upstream-flash-2",');
      const { ask } = await setup(Buffer.from(raw));
      const got = await ask();
      assert.equal(got.status, 200);
      assert.equal(Number(got.length), got.bytes.length);
      const text = got.bytes.toString('utf8');
      assert.equal(text.split('"model"').length - 1, 1, text);
      const body = JSON.parse(text);
      assert.equal(body.model, 'm');
      assert.equal(body.choices[0].message.content, '你好 é世');
    });
  }

  test('bytes that are not UTF-8 are relayed as they came, not replaced', async () => {
    const { ask } = await setup(answer(Buffer.from([0x6f, 0x6b, 0xff, 0xe4, 0xbd])));
    const got = await ask();
    assert.equal(got.status, 200);
    assert.ok(got.bytes.indexOf(Buffer.from([0x6f, 0x6b, 0xff, 0xe4, 0xbd])) > 0, 'the bytes are still there');
    assert.equal(got.bytes.indexOf(Buffer.from('\ufffd')), -1, 'no replacement characters');
  });

  test('a public model id that is not ASCII is written back as UTF-8', async () => {
    const { ask } = await setup(answer('好'), '深度求索');
    const got = await ask({ model: '深度求索/m' });
    assert.equal(got.status, 200, got.bytes.toString('utf8'));
    assert.equal(Number(got.length), got.bytes.length);
    const body = JSON.parse(got.bytes.toString('utf8'));
    assert.equal(body.model, '深度求索/m');
    assert.equal(body.choices[0].message.content, '好');
  });

  test('a json_schema answer is checked as text: maxLength counts characters, not bytes', async () => {
    // 3 characters, 9 bytes.
    const { up, ask } = await setup(answer('{\\"a\\":\\"你好吗\\"}'));
    const schema = { type: 'object', properties: { a: { type: 'string', maxLength: 3 } }, required: ['a'] };
    const got = await ask({ response_format: { type: 'json_schema', json_schema: { name: 's', schema } } });
    assert.equal(got.status, 200, got.bytes.toString('utf8'));
    assert.equal(up.requests(), 1, 'accepted at once, not retried');
    assert.equal(JSON.parse(JSON.parse(got.bytes.toString('utf8')).choices[0].message.content).a, '你好吗');
  });
});
