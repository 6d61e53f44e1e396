import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { runTollgate as run, runTollgateToEnd, type TollgateProcess } from '../helpers/tollgate-process.ts';

// `tollgate serve` as an operator runs it: a bad config stops it with the message that
// names the problem; a first start with nothing configured prints the admin token once.

const dir = mkdtempSync(join(tmpdir(), 'tollgate-serve-'));
const started: TollgateProcess[] = [];
const runTollgate = (...args: Parameters<typeof run>) => {
  const p = run(...args);
  started.push(p);
  return p;
};
after(async () => {
  // Whatever a failed test left running.
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
  rmSync(dir, { recursive: true, force: true });
});

// The tests are independent (own directories and ports) and mostly wait on child processes.
describe('tollgate serve', { concurrency: true }, () => {
  test('a bad config or an unset variable: exit 78 with a message naming the problem', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      `listen: { port: 0 }\nstorage: sqlite:${join(dir, 'bad.db')}\nproviders:\n  - id: up\n    kind: openai\n    base_url: http://127.0.0.1:9/v1\nmodels:\n  - id: m\n    upstreams: [{ provider: up, model: x }]\n    pricing: { input: lots, output: 1 }\n  - id: n\n    upstreams: [{ provider: ghost, model: x }]\n`,
    );
    const unsetFile = join(dir, 'env.yaml');
    writeFileSync(unsetFile, 'listen: { port: 0 }\nadmin_token: ${SOME_UNSET_ADMIN_TOKEN_VAR}\n');
    // (A missing file is covered by test/config/load.test.ts: the same ConfigError path.)
    const [r, unset] = await Promise.all([runTollgateToEnd(['serve', '--config', bad]), runTollgateToEnd(['serve', '--config', unsetFile])]);
    assert.notEqual(r.code, 0);
    assert.equal(r.code, 78, 'EX_CONFIG');
    assert.match(r.stderr, /models\[0\]\.pricing\.input/);
    assert.match(r.stderr, /models\[1\]\.upstreams\[0\]\.provider: unknown provider "ghost"/);
    assert.equal(unset.code, 78);
    assert.match(unset.stderr, /admin_token: environment variable SOME_UNSET_ADMIN_TOKEN_VAR is not set/);
    for (const x of [r, unset]) {
      assert.doesNotMatch(x.stderr, /\n\s+at /, 'no stack trace');
      assert.doesNotMatch(x.stdout, /listening/);
    }
  });

  test('with no providers configured and no provider key it starts, and prints the admin token only on the first start', async () => {
    // A working directory of its own: the default store is ./data/tollgate.db. The only
    // setting is the port (port 0, so the test never collides with anything).
    const cwd = mkdtempSync(join(dir, 'fresh-'));
    writeFileSync(join(cwd, 'port.yaml'), 'listen: { port: 0 }\n');

    const first = runTollgate(['serve', '--config', 'port.yaml'], { cwd });
    const out = await first.waitFor(/Admin token[^\n]*\n\s+(tg-admin-\S+)\n/);
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
    const token = /Admin token[^\n]*\n\s+(tg-admin-\S+)\n/.exec(out)![1]!;
    assert.match(out, /0 providers, 0 models/);
    assert.match(out, /No models configured/);
    assert.match(out, /storage sqlite:\.\/data\/tollgate\.db/);
    assert.equal(out.split(token).length, 2, 'the token is printed exactly once');
    // The printed token is the admin token.
    assert.equal((await fetch(`${url}/admin/v1/accounts`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    assert.equal((await fetch(`${url}/admin/v1/accounts`, { headers: { authorization: 'Bearer tg-admin-wrong' } })).status, 401);
    assert.deepEqual(await first.stop('SIGTERM'), { code: 0, signal: null });

    const second = runTollgate(['serve', '--config', 'port.yaml'], { cwd });
    const out2 = await second.waitFor('listening');
    const url2 = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out2)![1]!;
    // Still the same token (its hash was kept), and it is not printed again.
    assert.equal((await fetch(`${url2}/admin/v1/accounts`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    assert.deepEqual(await second.stop('SIGTERM'), { code: 0, signal: null });
    assert.doesNotMatch(second.stdout(), /Admin token/);
    assert.doesNotMatch(second.stdout(), /tg-admin-/);
    assert.equal(second.stderr(), '');
  });

  test('a first start that cannot listen (port in use) keeps no admin token: the next start prints one', async () => {
    // The token's hash was stored before listening, so after a failed first start the
    // next one printed none, and the operator had no way into the admin API.
    const cwd = mkdtempSync(join(dir, 'busy-'));
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busyPort = (blocker.address() as AddressInfo).port;
    writeFileSync(join(cwd, 'busy.yaml'), `listen: { port: ${busyPort} }\n`);
    writeFileSync(join(cwd, 'free.yaml'), 'listen: { port: 0 }\n');
    const failed = await runTollgateToEnd(['serve', '--config', 'busy.yaml'], { cwd });
    blocker.close();
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, new RegExp(`^tollgate: 127\\.0\\.0\\.1:${busyPort} is in use \\(another Tollgate\\?\\); set listen\\.port in the config or TOLLGATE_PORT\\n$`));
    assert.doesNotMatch(failed.stdout, /tg-admin-/);

    const next = runTollgate(['serve', '--config', 'free.yaml'], { cwd });
    const out = await next.waitFor(/Admin token[^\n]*\n\s+(tg-admin-\S+)\n/);
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
    const token = /Admin token[^\n]*\n\s+(tg-admin-\S+)\n/.exec(out)![1]!;
    assert.equal((await fetch(`${url}/admin/v1/accounts`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    assert.deepEqual(await next.stop('SIGTERM'), { code: 0, signal: null });
  });

  test('a restart whose API-key secret is not the one the keys were made with stops (78) instead of refusing every key', async () => {
    // A redeploy that lost TOLLGATE_SECRET (`secret: ${TOLLGATE_SECRET:-}`) started with a
    // new secret: every customer's key was a 401, with nothing said anywhere.
    const cwd = mkdtempSync(join(dir, 'secret-'));
    writeFileSync(join(cwd, 'tg.yaml'), 'listen: { port: 0 }\nadmin_token: tg-admin-secret-test-0123456789\nsecret: ${TOLLGATE_SECRET:-}\n');
    const secret = { TOLLGATE_SECRET: 's'.repeat(40) };
    const admin = { authorization: 'Bearer tg-admin-secret-test-0123456789', 'content-type': 'application/json' };
    const first = runTollgate(['serve', '--config', 'tg.yaml'], { cwd, env: secret });
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(await first.waitFor(/listening on/))![1]!;
    const account = (await (await fetch(`${url}/admin/v1/accounts`, { method: 'POST', headers: admin, body: '{"name":"a"}' })).json()) as { id: string };
    const { key } = (await (await fetch(`${url}/admin/v1/accounts/${account.id}/keys`, { method: 'POST', headers: admin, body: '{}' })).json()) as { key: string };
    assert.equal((await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status, 200);
    assert.deepEqual(await first.stop('SIGTERM'), { code: 0, signal: null });

    for (const env of [{}, { TOLLGATE_SECRET: 't'.repeat(40) }] as Record<string, string>[]) {
      const wrong = await runTollgateToEnd(['serve', '--config', 'tg.yaml'], { cwd, env });
      assert.equal(wrong.code, 78, wrong.stderr);
      assert.match(wrong.stderr, /secret.*not the one this database's keys were made with/);
      assert.doesNotMatch(wrong.stderr + wrong.stdout, /s{40}|t{40}/, 'no secret is printed');
      assert.doesNotMatch(wrong.stdout, /listening/);
    }
    const again = runTollgate(['serve', '--config', 'tg.yaml'], { cwd, env: secret });
    const url2 = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(await again.waitFor(/listening on/))![1]!;
    assert.equal((await fetch(`${url2}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status, 200, 'the key still works');
    assert.deepEqual(await again.stop('SIGTERM'), { code: 0, signal: null });
  });

  test('storage that is not a database: serve and ledger verify name the file', async () => {
    // Both said only "tollgate: file is not a database".
    const notDb = join(dir, 'notes.txt');
    writeFileSync(notDb, 'not a database\n');
    const cfg = join(dir, 'notdb.yaml');
    writeFileSync(cfg, `listen: { port: 0 }\nstorage: sqlite:${notDb}\n`);
    const runs = await Promise.all([runTollgateToEnd(['serve', '--config', cfg]), runTollgateToEnd(['ledger', 'verify', '--config', cfg])]);
    for (const r of runs) {
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `tollgate: cannot open the database ${notDb}: file is not a database\n`);
      assert.doesNotMatch(r.stdout, /listening|tg-admin-/);
    }
  });

  test('the gateway outlives whatever reads its output: a closed stdout is not a crash', async () => {
    // With its stdout pipe closed (a log shipper restarting, `| head`), the next write
    // threw EPIPE and the gateway died with a stack trace and its requests in flight.
    const cwd = mkdtempSync(join(dir, 'epipe-'));
    writeFileSync(join(cwd, 'g.yaml'), 'listen: { port: 0 }\nadmin_token: epipe-admin-token-0123456789\nlogging: { level: debug }\n');
    const p = runTollgate(['serve', '--config', 'g.yaml'], { cwd });
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(await p.waitFor(/listening on http:\S+/))![1]!;
    p.child.stdout!.destroy();
    for (let i = 0; i < 5; i++) {
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      assert.equal((await fetch(`${url}/admin/v1/accounts`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    }
    assert.deepEqual(await p.stop('SIGTERM'), { code: 0, signal: null }, 'it drains and exits 0 though it cannot say so');
    assert.doesNotMatch(p.stderr(), /EPIPE|\n\s+at /);
  });
});
