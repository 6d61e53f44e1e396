import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { BIN, childEnv, startServeProcess } from '../helpers/tollgate-process.ts';
import { UPSTREAM_SECRET } from '../helpers/http.ts';

// SIGHUP is what a gateway started from a terminal gets when the operator's SSH session
// drops. Node's default for it is to die at once: the stream in flight was cut and never
// charged, and the records not yet written (a 5 s flush interval here) were lost.

const dir = mkdtempSync(join(tmpdir(), 'tollgate-hangup-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Pids of the processes whose command line names `needle` (the gateway under `script` is not our child). */
function pidsRunning(needle: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) pids.push(Number(d));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

test('SIGHUP drains as SIGTERM does: the stream in flight finishes, is recorded and charged, and the process exits 0', async (t) => {
  const up = await startFakeOpenAI();
  t.after(() => up.close());
  const gw = await startServeProcess(
    dir,
    `flush_interval_ms: 5000
providers:
  - { id: fake, kind: openai, base_url: "${up.baseUrl}", api_key: ${UPSTREAM_SECRET} }
models:
  - { id: m, upstreams: [{ provider: fake, model: up-m }], pricing: { input: "1", output: "2" } }
`,
  );
  t.after(() => gw.proc.stop('SIGKILL'));
  const { accountId, key } = await gw.customer();
  const words = Array.from({ length: 6 }, (_, i) => `word${i}`);
  up.behave({ text: words.join(' '), chunkDelayMs: 150, completionTokens: 6 });
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 200);
  const id = res.headers.get('x-request-id')!;
  const reader = res.body!.getReader();
  let body = '';
  while (!body.includes('word0')) body += new TextDecoder().decode((await reader.read()).value);

  gw.proc.child.kill('SIGHUP');
  await gw.proc.waitFor(/SIGHUP: draining 1 in-flight/);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    body += new TextDecoder().decode(value);
  }
  assert.ok(body.endsWith('data: [DONE]\n\n'), 'the stream was finished');
  assert.deepEqual(await gw.proc.exited, { code: 0, signal: null }, gw.proc.stderr());

  const db = new Database(join(dir, 'tollgate.db'), { readonly: true });
  try {
    const row = db.prepare('SELECT status, completion_tokens, cost FROM requests WHERE id = ?').get(id) as any;
    assert.equal(row?.status, 200, 'recorded');
    assert.equal(row.completion_tokens, 6);
    const charge = db.prepare("SELECT amount FROM ledger WHERE request_id = ? AND kind = 'charge'").get(id) as any;
    assert.equal(charge?.amount, -row.cost, 'charged');
    const sum = db.prepare('SELECT sum(amount) AS s FROM ledger WHERE account_id = ?').get(accountId) as any;
    assert.equal((db.prepare('SELECT balance FROM accounts WHERE id = ?').get(accountId) as any).balance, sum.s);
  } finally {
    db.close();
  }
});

for (const c of [
  { what: 'drains, and writing to the dead terminal does not crash it', extra: '', words: 6, outcome: 'finished' },
  // The drain's time-out is logged: pino's write to the dead terminal failed with EIO too.
  { what: 'and outlasts shutdown_drain_ms: logging the cut to the dead terminal does not crash it', extra: 'shutdown_drain_ms: 700\n', words: 40, outcome: 'cut' },
] as const)
test(`a gateway whose terminal hangs up (an SSH session dropped) ${c.what}`, async (t) => {
  // The real thing: `script` gives the gateway a pseudo-terminal, and killing `script`
  // hangs it up. The gateway gets SIGHUP, and its next write to the terminal (the drain
  // message) fails with EIO, which crashed it as an unhandled 'error' event.
  const up = await startFakeOpenAI();
  t.after(() => up.close());
  const sub = mkdtempSync(join(dir, 'pty-'));
  const cfg = join(sub, 'tollgate.yaml');
  writeFileSync(
    cfg,
    `listen: { host: 127.0.0.1, port: 0 }\nstorage: sqlite:${join(sub, 'tollgate.db')}\nflush_interval_ms: 5000\n${c.extra}providers:\n  - { id: fake, kind: openai, base_url: "${up.baseUrl}", api_key: ${UPSTREAM_SECRET} }\nmodels:\n  - { id: m, upstreams: [{ provider: fake, model: up-m }], pricing: { input: "1", output: "2" } }\n`,
  );
  const adminToken = 'pty-admin-token-0123456789abcdef';
  const terminal = spawn('script', ['-qfec', `'${process.execPath}' '${BIN}' serve --config '${cfg}'`, '/dev/null'], { env: childEnv({ TOLLGATE_ADMIN_TOKEN: adminToken }), stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => {
    terminal.kill('SIGKILL');
    for (const pid of pidsRunning(cfg)) process.kill(pid, 'SIGKILL'); // a gateway this test left hanging
  });
  let out = '';
  terminal.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!/listening on http:\/\/[0-9.]+:\d+/.test(out)) {
    assert.ok(Date.now() < deadline && terminal.exitCode === null, `the gateway did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /listening on (http:\/\/[0-9.]+:\d+)/.exec(out)![1]!;
  const admin = async (method: string, path: string, body?: unknown) =>
    (await fetch(`${url}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) })).json() as Promise<any>;
  const account = await admin('POST', '/accounts', { name: 'a' });
  await admin('POST', `/accounts/${account.id}/credits`, { amount_usd: '10' });
  const { key } = await admin('POST', `/accounts/${account.id}/keys`, {});
  up.behave({ text: Array.from({ length: c.words }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 150, completionTokens: c.words });
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const id = res.headers.get('x-request-id')!;
  const reader = res.body!.getReader();
  let body = new TextDecoder().decode((await reader.read()).value);

  terminal.kill('SIGKILL'); // the session is gone
  let cut = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      body += new TextDecoder().decode(value);
    }
  } catch {
    cut = true;
  }
  if (c.outcome === 'finished') assert.ok(!cut && body.endsWith('data: [DONE]\n\n'), 'the stream was finished');
  else assert.ok(cut || !body.includes('[DONE]'), 'the stream was cut at the drain\'s end');
  // The gateway exits once drained, its records written.
  for (let i = 0; pidsRunning(cfg).length > 0; i++) {
    assert.ok(i < 200, 'the gateway exited');
    await new Promise((r) => setTimeout(r, 50));
  }
  let row: any;
  for (let i = 0; i < 100 && !row; i++) {
    const db = new Database(join(sub, 'tollgate.db'), { readonly: true });
    try {
      row = db.prepare('SELECT r.status, r.error_code, r.completion_tokens, r.cost, l.amount FROM requests r JOIN ledger l ON l.request_id = r.id AND l.kind = \'charge\' WHERE r.id = ?').get(id);
    } finally {
      db.close();
    }
    if (!row) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(row, 'the stream was recorded, with its charge');
  assert.equal(row.amount, -row.cost, 'charged what its record says');
  if (c.outcome === 'finished') assert.deepEqual([row.status, row.error_code, row.completion_tokens], [200, null, c.words]);
  else {
    assert.equal(row.error_code, 'shutting_down');
    assert.ok(row.completion_tokens > 0 && row.completion_tokens < c.words, `charged for what it streamed (${row.completion_tokens} tokens)`);
  }
});
