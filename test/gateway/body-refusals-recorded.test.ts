import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { onFakeOpenAI, type TestGateway } from '../helpers/gateway.ts';
import type { FakeOpenAI } from '../helpers/fake-openai.ts';

// One request-log row per request: a body refused before the pipeline (too large, empty,
// not JSON, nested too deep) was answered but never recorded, so it was missing from the
// customer's request log and from tollgate_requests_total.

describe('requests refused for their body are recorded', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  let accountId: string;
  onFakeOpenAI((s) => ({ up, tg, key, accountId } = s));

  const send = (body: string, path = '/v1/chat/completions') =>
    fetch(`${tg.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });

  const requestsTotal = async (status: number): Promise<number> => {
    const text = await (await fetch(`${tg.url}/metrics`, { headers: { authorization: `Bearer ${tg.adminToken}` } })).text();
    let n = 0;
    for (const line of text.split('\n')) if (line.startsWith('tollgate_requests_total{') && line.includes(`status="${status}"`)) n += Number(line.slice(line.lastIndexOf(' ') + 1));
    return n;
  };

  const cases: Array<[string, () => string, number, string, string]> = [
    ['an empty body', () => '', 400, 'invalid_json', '/v1/chat/completions'],
    ['a body that is not JSON', () => '{"model": ', 400, 'invalid_json', '/v1/chat/completions'],
    ['a body nested too deep', () => '['.repeat(300) + ']'.repeat(300), 400, 'invalid_request', '/v1/embeddings'],
    ['a body over max_body_bytes', () => `{"model":"deepseek-v4-flash","messages":[{"role":"user","content":"${'x'.repeat(11 * 1024 * 1024)}"}]}`, 413, 'request_too_large', '/v1/chat/completions'],
  ];

  test('a body over max_body_bytes with a key not yet looked up: 413 at once, and the lookup failing later harms nothing', async () => {
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer sk-tg-${'Q'.repeat(43)}`, 'content-type': 'application/json' },
      body: 'x'.repeat(11 * 1024 * 1024),
    });
    assert.equal(res.status, 413);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await send(JSON.stringify({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }))).status, 200);
  });

  for (const [name, body, status, code, path] of cases) {
    test(`${name}: ${status} ${code}, in the request log under the key's account and in the metrics`, async () => {
      const before = await requestsTotal(status);
      const calls = up.requests.length;
      const res = await send(body(), path);
      assert.equal(res.status, status);
      const err = (await res.json()) as { error: { code: string; request_id: string } };
      assert.equal(err.error.code, code);
      const id = res.headers.get('x-request-id')!;
      assert.equal(err.error.request_id, id);
      assert.equal(up.requests.length, calls, 'the upstream was not called');
      let row: Record<string, unknown> | undefined;
      for (let i = 0; i < 50 && !row; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const log = await tg.admin('GET', `/requests?account_id=${accountId}&limit=20`);
        row = (log.body.data as Array<Record<string, unknown>>).find((r) => r.id === id);
      }
      assert.ok(row, `request ${id} is in the account's request log`);
      assert.equal(row.status, status);
      assert.equal(row.error_code, code);
      assert.equal(row.endpoint, path.endsWith('embeddings') ? 'embeddings' : 'chat.completions');
      assert.equal(await requestsTotal(status), before + 1);
    });
  }
});
