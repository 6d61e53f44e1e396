import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rawExchange } from '../helpers/http.ts';
import { onFakeOpenAI, type TestGateway } from '../helpers/gateway.ts';

// Authorization is a singleton header. node:http kept the first of two and dropped the
// other, so a request with two was served with whichever came first, while a proxy in
// front may have judged it by the last. Two are now refused (node:http joins them, and
// the joined value is no key and no token).

/** Sends raw bytes and reads one whole answer. */
async function send(url: string, bytes: string): Promise<{ status: number; body: any }> {
  const got = await rawExchange(url, bytes);
  return { status: Number(got.split(' ')[1]), body: JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4)) };
}

describe('two Authorization headers', () => {
  let tg: TestGateway;
  let key: string;
  onFakeOpenAI((s) => ({ tg, key } = s));
  const chat = '{"model":"deepseek-v4-flash","messages":[{"role":"user","content":"hi"}]}';

  for (const [name, order] of [['the good key first', 0], ['the good key last', 1]] as const) {
    test(`data plane, ${name}: 401 invalid_api_key`, async () => {
      const auths = [`Authorization: Bearer ${key}`, `Authorization: Bearer sk-tg-${'Q'.repeat(43)}`];
      if (order) auths.reverse();
      const res = await send(tg.url, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auths.join('\r\n')}\r\nContent-Type: application/json\r\nContent-Length: ${chat.length}\r\n\r\n${chat}`);
      assert.equal(res.status, 401);
      assert.equal(res.body.error.code, 'invalid_api_key');
    });
  }

  test('models list: 401', async () => {
    const res = await send(tg.url, `GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nAuthorization: Bearer ${key}\r\n\r\n`);
    assert.equal(res.status, 401);
  });

  test('admin API: 401 invalid_admin_token', async () => {
    const res = await send(tg.url, `GET /admin/v1/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tg.adminToken}\r\nAuthorization: Bearer x\r\n\r\n`);
    assert.equal(res.status, 401);
    assert.equal(res.body.error.code, 'invalid_admin_token');
  });

  test('one Authorization header still works', async () => {
    const res = await send(tg.url, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${chat.length}\r\n\r\n${chat}`);
    assert.equal(res.status, 200);
  });
});
