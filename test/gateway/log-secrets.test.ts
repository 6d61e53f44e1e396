import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { CLOSED_PORT, post, UPSTREAM_SECRET } from '../helpers/http.ts';

// Secrets never reach the logs: customer keys (valid, unknown, revoked, freshly created),
// the upstream's key (even when the upstream echoes it back in an error), and admin
// tokens (right or wrong). The gateway logs at trace level into memory, with no redaction
// configured, so a secret handed to the logger at all fails the test.

describe('nothing secret is logged, at any level', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  const lines: string[] = [];

  before(async () => {
    up = await startFakeOpenAI();
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
        done();
      },
    });
    tg = await startTestGateway({
      logger: pino({ level: 'trace' }, sink),
      config: {
        providers: [
          { id: 'fake', kind: 'openai', base_url: up.baseUrl, api_key: UPSTREAM_SECRET },
          { id: 'dead', kind: 'openai', base_url: `http://127.0.0.1:${CLOSED_PORT}/v1`, api_key: 'sk-dead-upstream-secret-456' },
        ],
        models: [
          { id: 'flash', upstreams: [{ provider: 'fake', model: 'upstream-flash' }], pricing: { input: '0.16', output: '0.30' } },
          // Tried first and refused, so the request fails over to the fake: a logged attempt.
          { id: 'failover', upstreams: [{ provider: 'dead', model: 'x' }, { provider: 'fake', model: 'upstream-flash' }], pricing: { input: '0.16', output: '0.30' } },
        ],
      },
    });
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  test('a day of ordinary and failing traffic leaves no secret in the log', async () => {
    const { key } = await tg.customer();
    const revoked = await tg.customer({ name: 'revoked' });
    assert.equal((await tg.admin('DELETE', `/keys/${revoked.keyId}`)).status, 200);
    const unknownKey = `sk-tg-${'Q'.repeat(43)}`;
    const foreignKey = 'sk-proj-someone-elses-openai-key-789';
    const wrongAdmin = 'tg-admin-not-the-real-token-000';
    const chat = (k: string, body: Record<string, unknown> = {}) =>
      post(`${tg.url}/v1/chat/completions`, { model: 'flash', messages: [{ role: 'user', content: 'hi' }], ...body }, { key: k });

    assert.equal((await chat(key)).status, 200);
    assert.equal((await chat(key, { stream: true })).status, 200);
    assert.equal((await chat(key, { model: 'failover' })).status, 200);
    assert.equal((await chat(unknownKey)).status, 401);
    assert.equal((await chat(foreignKey)).status, 401);
    assert.equal((await chat(revoked.key)).status, 401);
    // The upstream rejects the configured credentials and quotes them back.
    up.behave({ status: 401, errorBody: { error: { message: `Incorrect API key provided: ${UPSTREAM_SECRET}`, type: 'invalid_request_error', code: 'invalid_api_key' } } });
    assert.equal((await chat(key)).status, 502);
    up.behave({ status: 500, errorBody: { error: { message: `internal failure for key ${UPSTREAM_SECRET}`, type: 'server_error' } } });
    assert.equal((await chat(key)).status, 502);
    up.behave({ garbage: true });
    assert.equal((await chat(key)).status, 502);
    up.behave({});
    const wrong = await fetch(`${tg.url}/admin/v1/accounts`, { headers: { authorization: `Bearer ${wrongAdmin}` } });
    assert.equal(wrong.status, 401);
    const created = await tg.admin('POST', `/accounts/${(await tg.admin('GET', '/accounts')).body.data[0].id}/keys`, { name: 'second' });
    assert.equal(created.status, 201);
    await tg.gw.rt.journal.flush();

    // The log saw the trouble (so it was listening), and nothing secret.
    const text = lines.join('\n');
    assert.match(text, /upstream attempt failed/);
    assert.match(text, /upstream rejected the configured credentials/);
    const secrets: Record<string, string> = {
      'customer key': key,
      'revoked key': revoked.key,
      'unknown key': unknownKey,
      'foreign key': foreignKey,
      'created key': created.body.key,
      'upstream key': UPSTREAM_SECRET,
      'dead upstream key': 'sk-dead-upstream-secret-456',
      'admin token': tg.adminToken,
      'wrong admin token': wrongAdmin,
    };
    for (const [what, secret] of Object.entries(secrets)) {
      assert.ok(typeof secret === 'string' && secret.length > 10, `${what} is a real secret`);
      const hit = lines.find((l) => l.includes(secret));
      assert.equal(hit, undefined, `the ${what} was logged: ${hit}`);
    }
  });
});
