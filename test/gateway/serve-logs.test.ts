import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { runTollgate } from '../helpers/tollgate-process.ts';
import { CLOSED_PORT } from '../helpers/http.ts';

// The output of a real `tollgate serve` at each log level, after traffic an attacker and a
// bad day make: every log line is one JSON object, those about a request carry its id,
// nothing secret is in it (keys, tokens, the key-hashing secret), and no client- or
// upstream-supplied text reaches it raw (control characters) or unbounded.

const dir = mkdtempSync(join(tmpdir(), 'tollgate-serve-logs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const UPSTREAM_KEY = 'sk-upstream-log-secret-AAAA1111';
const HMAC_SECRET = 'hmac-log-secret-BBBB2222-0123456789abcdef';
const ADMIN_TOKEN = 'admin-log-secret-CCCC3333-0123456789';
/** Lines that are the process's own, not about one request. */
const PROCESS_LINES = /^(Tollgate listening on |SIGTERM: draining )/;

describe('tollgate serve output', () => {
for (const level of ['info', 'debug', 'trace'] as const) {
  test(`logging.level ${level}: JSON lines, request ids, no secrets, nothing raw or unbounded`, async (t) => {
    const up = await startFakeOpenAI();
    t.after(() => up.close());
    const sub = mkdtempSync(join(dir, `${level}-`));
    const cfg = join(sub, 'tollgate.yaml');
    writeFileSync(
      cfg,
      `listen: { host: 127.0.0.1, port: 0 }
storage: sqlite:${join(sub, 'tollgate.db')}
logging: { level: ${level} }
secret: ${HMAC_SECRET}
providers:
  - { id: fake, kind: openai, base_url: "${up.baseUrl}", api_key: ${UPSTREAM_KEY} }
  - { id: dead, kind: openai, base_url: "http://127.0.0.1:${CLOSED_PORT}/v1", api_key: ${UPSTREAM_KEY}-dead }
models:
  - { id: m, upstreams: [{ provider: fake, model: up-m }], pricing: { input: "1", output: "2" } }
  - { id: f, upstreams: [{ provider: dead, model: x, priority: 1 }, { provider: fake, model: up-m }], pricing: { input: "1", output: "2" } }
`,
    );
    const proc = runTollgate(['serve', '--config', cfg], { env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
    t.after(() => proc.stop('SIGKILL'));
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(await proc.waitFor(/listening on http:\S+/, 30_000))![1]!;
    const admin = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${url}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
      assert.ok(r.ok, `${method} ${path}: ${r.status}`);
      return r.json() as Promise<any>;
    };
    const account = await admin('POST', '/accounts', { name: 'logs' });
    await admin('POST', `/accounts/${account.id}/credits`, { amount_usd: '10' });
    const { key } = (await admin('POST', `/accounts/${account.id}/keys`, {})) as { key: string };
    const wrongKey = `sk-tg-${'Z'.repeat(43)}`;
    const chat = async (body: unknown, k = key, headers: Record<string, string> = {}) => {
      const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      await r.text();
      return r.status;
    };
    const hi = [{ role: 'user', content: 'hi' }];
    const evil = '\n\u001b[31m{"level":60,"msg":"forged"}\r\n';
    assert.equal(await chat({ model: 'm', messages: hi }), 200);
    assert.equal(await chat({ model: 'f', messages: hi, stream: true }), 200); // fails over: logged
    assert.equal(await chat({ model: `x${evil}`.repeat(50_000), messages: hi }), 400);
    assert.equal(await chat({ model: `nope${evil}`, messages: [{ role: 'user', content: evil.repeat(10_000) }] }), 404);
    assert.equal(await chat({ model: 'm', messages: hi }, key, { 'x-big': '{"forged":1} '.repeat(1_000) }), 200);
    assert.equal(await chat({ model: 'm', messages: hi }, wrongKey), 401);
    up.behave({ status: 500, errorBody: { error: { message: `boom ${UPSTREAM_KEY}${evil}${'z'.repeat(200_000)}` } } });
    assert.equal(await chat({ model: 'm', messages: hi }), 502);
    up.behave({ status: 401, errorBody: { error: { message: `Incorrect API key provided: ${UPSTREAM_KEY}${evil}` } } });
    assert.equal(await chat({ model: 'm', messages: hi }), 502);
    up.behave({});
    assert.equal((await fetch(`${url}/admin/v1/accounts`, { headers: { authorization: 'Bearer admin-wrong-DDDD4444' } })).status, 401);
    assert.equal((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } })).status, 401);
    assert.deepEqual(await proc.stop('SIGTERM'), { code: 0, signal: null }, proc.stderr());

    const out = proc.stdout() + proc.stderr();
    for (const [what, secret] of Object.entries({ 'upstream key': UPSTREAM_KEY, 'hashing secret': HMAC_SECRET, 'admin token': ADMIN_TOKEN, 'customer key': key, 'unknown key': wrongKey, 'wrong admin token': 'admin-wrong-DDDD4444' })) {
      assert.ok(!out.includes(secret), `the ${what} is in the output`);
    }
    assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f]/.test(out), 'no raw control characters');
    assert.ok(!out.includes('forged'), 'no client or upstream text');
    const logged = out.split('\n').filter((l) => l.trim() !== '' && !PROCESS_LINES.test(l));
    assert.ok(logged.length >= 3, `the troubles were logged:\n${out}`);
    for (const line of logged) {
      assert.ok(line.length < 2_000, `a log line of ${line.length} characters`);
      let entry: any;
      assert.doesNotThrow(() => (entry = JSON.parse(line)), `not one JSON object: ${line}`);
      assert.equal(typeof entry.msg, 'string', line);
      assert.match(entry.request_id ?? '', /^req_/, `a request's line without its id: ${line}`);
    }
    const messages = logged.map((l) => JSON.parse(l).msg as string);
    assert.ok(messages.includes('upstream attempt failed'), messages.join('\n'));
    assert.ok(messages.some((m) => /upstream rejected the configured credentials/.test(m)), messages.join('\n'));
  });
}
});
