import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FakeOpenAI } from '../helpers/fake-openai.ts';
import { onFakeOpenAI, type TestGateway } from '../helpers/gateway.ts';

// Browser clients (web chat UIs that take the user's key, the OpenAI SDK with
// dangerouslyAllowBrowser) call the API from their own origin, as OpenAI's API allows.
// The gateway answered the preflight with a 404 and sent no Access-Control-Allow-Origin,
// so the browser refused every call. The admin API stays closed to other origins.

const ORIGIN = 'https://chat.example.com';
// What the OpenAI SDK sends from a browser, beside authorization and content-type.
const SDK_HEADERS = 'authorization,content-type,x-stainless-arch,x-stainless-lang,x-stainless-os,x-stainless-package-version,x-stainless-retry-count,x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout';

describe('CORS for browser clients', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;

  onFakeOpenAI((s) => ({ up, tg, key } = s));

  const preflight = (path: string, method = 'POST') =>
    fetch(`${tg.url}${path}`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': method, 'access-control-request-headers': SDK_HEADERS } });
  const call = (path: string, init: RequestInit = {}) =>
    fetch(`${tg.url}${path}`, { ...init, headers: { origin: ORIGIN, authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });
  const allowed = (res: Response) => res.headers.get('access-control-allow-origin');

  test('a preflight of the API is answered: any origin, the methods, the headers it asked for', async () => {
    for (const [path, method] of [['/v1/chat/completions', 'POST'], ['/v1/embeddings', 'POST'], ['/api/v1/chat/completions', 'POST'], ['/v1/models', 'GET'], ['/v1/models/deepseek-v4-flash', 'GET']] as const) {
      const res = await preflight(path, method);
      assert.equal(res.status, 204, path);
      assert.equal(allowed(res), '*');
      assert.match(res.headers.get('access-control-allow-methods') ?? '', new RegExp(method));
      assert.equal(res.headers.get('access-control-allow-headers'), SDK_HEADERS);
      assert.ok(Number(res.headers.get('access-control-max-age')) > 0);
      assert.equal(await res.text(), '');
    }
    assert.equal(up.requests.length, 0, 'a preflight never reaches the upstream');
  });

  test('answers, streams and errors of the API carry Access-Control-Allow-Origin', async () => {
    const body = { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] };
    const answer = await call('/v1/chat/completions', { method: 'POST', body: JSON.stringify(body) });
    assert.equal(answer.status, 200);
    assert.equal(allowed(answer), '*');
    // So the SDK can read its request id.
    assert.equal(answer.headers.get('access-control-expose-headers'), '*');
    await answer.text();
    const stream = await call('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...body, stream: true }) });
    assert.equal(allowed(stream), '*');
    assert.match(await stream.text(), /\[DONE\]/);
    const refused = await call('/v1/chat/completions', { method: 'POST', headers: { authorization: 'Bearer sk-tg-wrong' }, body: JSON.stringify(body) });
    assert.equal(refused.status, 401);
    assert.equal(allowed(refused), '*');
    await refused.text();
    const broken = await call('/v1/chat/completions', { method: 'POST', body: '{' });
    assert.equal(broken.status, 400);
    assert.equal(allowed(broken), '*');
    await broken.text();
    const models = await call('/v1/models');
    assert.equal(models.status, 200);
    assert.equal(allowed(models), '*');
    await models.text();
    // A client without an Origin (an SDK on a server) is not a browser: no CORS headers.
    const server = await fetch(`${tg.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(server.status, 200);
    assert.equal(allowed(server), null);
    await server.text();
    // Nor on its errors (written by the data plane) or the models list (Fastify).
    const plain = (path: string, init: RequestInit = {}) => fetch(`${tg.url}${path}`, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });
    for (const res of [
      await plain('/v1/chat/completions', { method: 'POST', body: '{' }),
      await plain('/v1/chat/completions', { method: 'POST', headers: { authorization: 'Bearer sk-tg-wrong' }, body: JSON.stringify(body) }),
      await plain('/v1/models'),
      await plain('/v1/nothing-here'),
    ]) {
      assert.equal(allowed(res), null, `${res.status} ${res.url}`);
      assert.equal(res.headers.get('access-control-expose-headers'), null);
      await res.text();
    }
  });

  test('the admin API is not opened to other origins', async () => {
    const res = await preflight('/admin/v1/accounts');
    assert.equal(allowed(res), null);
    assert.notEqual(res.status, 204);
    await res.text();
    const list = await fetch(`${tg.url}/admin/v1/accounts`, { headers: { origin: ORIGIN, authorization: `Bearer ${tg.adminToken}` } });
    assert.equal(list.status, 200);
    assert.equal(allowed(list), null);
    await list.text();
  });
});
