import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { startServeProcess, type TollgateProcess } from '../helpers/tollgate-process.ts';
import { UPSTREAM_SECRET } from '../helpers/http.ts';

// Graceful shutdown of a real `tollgate serve` process: SIGTERM while a slow stream is
// in flight lets that stream finish, then the process exits 0 with every request record
// in the database.

const dir = mkdtempSync(join(tmpdir(), 'tollgate-shutdown-'));
let proc: TollgateProcess | undefined;
after(async () => {
  await proc?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** One model on the fake upstream; journal commits 5 s apart, longer than a test, so
 *  whatever reaches the store was written by the shutdown's flush. */
function configOn(upstream: string): string {
  return `flush_interval_ms: 5000
providers:
  - id: fake
    kind: openai
    base_url: ${upstream}
    api_key: ${UPSTREAM_SECRET}
models:
  - id: deepseek-v4-flash
    upstreams: [{ provider: fake, model: upstream-flash }]
    pricing: { input: "0.16", output: "0.30" }
`;
}

test('SIGTERM drains an in-flight stream, then exits 0 with every request recorded', async (t) => {
  const up = await startFakeOpenAI();
  t.after(() => up.close());
  const adminToken = 'shutdown-admin-token-0123456789';
  const gw = await startServeProcess(dir, configOn(up.baseUrl), { adminToken });
  proc = gw.proc;
  const { url } = gw;
  const { accountId, key } = await gw.customer();
  const account = { id: accountId };
  const chat = (body: Record<string, unknown>) =>
    fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }], ...body }) });

  // A quick request before, and a slow stream across the shutdown.
  up.behave({ text: 'quick' });
  const quick = await chat({});
  assert.equal(quick.status, 200);
  const quickId = quick.headers.get('x-request-id')!;
  await quick.text();

  const words = Array.from({ length: 8 }, (_, i) => `word${i}`);
  up.behave({ text: words.join(' '), chunkDelayMs: 150, completionTokens: 8 });
  const slow = await chat({ stream: true });
  assert.equal(slow.status, 200);
  const slowId = slow.headers.get('x-request-id')!;
  const reader = slow.body!.getReader();
  const decoder = new TextDecoder();
  let body = '';
  while (!body.includes('word0')) {
    const { value, done } = await reader.read();
    assert.ok(!done, 'stream ended early');
    body += decoder.decode(value, { stream: true });
  }

  const t0 = performance.now();
  proc.child.kill('SIGTERM');
  await proc.waitFor(/SIGTERM: draining 1 in-flight/);

  // New requests are no longer served while draining.
  const during = await chat({}).then(
    (r) => r.status,
    () => 'refused',
  );
  assert.notEqual(during, 200);

  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    body += decoder.decode(value, { stream: true });
  }
  const text = body
    .split('\n\n')
    .filter((f) => f.startsWith('data: {'))
    .map((f) => JSON.parse(f.slice(6)).choices[0]?.delta?.content ?? '')
    .join('');
  assert.equal(text, words.join(' '), 'the in-flight stream was finished');
  assert.ok(body.endsWith('data: [DONE]\n\n'));
  assert.ok(performance.now() - t0 >= 700, 'the stream really was in flight during the shutdown');

  // Exits as soon as the stream is done: the client's idle keep-alive connection (fetch
  // keeps one ~4 s) must not hold the process open.
  const streamDone = performance.now();
  const exit = await proc.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, proc.stderr());
  // The admin token came from the environment: it is used, and never printed.
  assert.doesNotMatch(proc.stdout(), /Admin token|shutdown-admin-token/);
  const exitDelay = performance.now() - streamDone;
  assert.ok(exitDelay < 2000, `exited ${exitDelay.toFixed(0)} ms after the stream ended`);

  const db = new Database(join(dir, 'tollgate.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT id, status, error_code, stream, completion_tokens, account_id FROM requests ORDER BY created_at').all() as any[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    assert.ok(byId.has(quickId), `quick request recorded: ${JSON.stringify(rows)}`);
    const s = byId.get(slowId);
    assert.ok(s, `slow stream recorded: ${JSON.stringify(rows)}`);
    assert.equal(s.status, 200);
    assert.equal(s.error_code, null);
    assert.equal(s.stream, 1);
    assert.equal(s.completion_tokens, 8);
    assert.equal(s.account_id, account.id);
    // Its charge reached the ledger too, and no reservation is left open.
    const charge = db.prepare("SELECT amount FROM ledger WHERE request_id = ? AND kind = 'charge'").get(slowId) as any;
    assert.ok(charge && charge.amount < 0, 'the stream was charged');
    assert.equal((db.prepare('SELECT count(*) AS n FROM reservations').get() as any).n, 0);
  } finally {
    db.close();
  }
});

// SIGTERM under load, with the clients leaving during the drain (a load balancer closing
// its connections, users pressing stop). Their connections close at once, so the server
// is closed before their exchanges have finished; the journal used to be flushed and
// closed right then, and every one of those requests was lost: no record, no charge for
// the text already streamed, and its reservation left open in the store.

test('SIGTERM with streams whose clients leave during the drain: each is recorded and charged for what it streamed', async (t) => {
  const up = await startFakeOpenAI({ text: 'w '.repeat(200).trim(), chunkDelayMs: 50, promptTokens: 10, completionTokens: 200 });
  t.after(() => up.close());
  const gw = await startServeProcess(dir, configOn(up.baseUrl));
  proc = gw.proc;
  const { accountId, key } = await gw.customer('10');
  const N = 30;
  const clients = await Promise.all(
    Array.from({ length: N }, async () => {
      const ac = new AbortController();
      const r = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        signal: ac.signal,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(r.status, 200);
      const reader = r.body!.getReader();
      // Some text has been streamed, so each of them has something to be charged for.
      let seen = '';
      while (!seen.includes('"content":"w"')) seen += new TextDecoder().decode((await reader.read()).value);
      return { ac, id: r.headers.get('x-request-id')!, reader };
    }),
  );

  proc.child.kill('SIGTERM');
  await proc.waitFor(new RegExp(`SIGTERM: draining ${N} in-flight`));
  for (const c of clients) c.ac.abort();
  assert.deepEqual(await proc.exited, { code: 0, signal: null }, proc.stderr());

  const db = new Database(join(dir, 'tollgate.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT id, error_code, completion_tokens, cost FROM requests WHERE account_id = ?').all(accountId) as any[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const c of clients) {
      const r = byId.get(c.id);
      assert.ok(r, `request ${c.id} recorded (${rows.length} of ${N} were)`);
      assert.equal(r.error_code, 'client_closed');
      assert.ok(r.completion_tokens > 0 && r.cost > 0, `${c.id} charged for the text it streamed`);
      const charge = db.prepare("SELECT amount FROM ledger WHERE request_id = ? AND kind = 'charge'").get(c.id) as any;
      assert.equal(charge?.amount, -r.cost, `${c.id}: its ledger charge is its logged cost`);
    }
    assert.equal((db.prepare('SELECT count(*) AS n FROM reservations').get() as any).n, 0, 'no reservation left open');
    const sum = db.prepare('SELECT sum(amount) AS s FROM ledger WHERE account_id = ?').get(accountId) as any;
    const balance = db.prepare('SELECT balance FROM accounts WHERE id = ?').get(accountId) as any;
    assert.equal(balance.balance, sum.s, 'balance = sum of its ledger');
  } finally {
    db.close();
  }
});

test('a second SIGTERM stops at once: what was settled is written, the cut request is left to the next start', async (t) => {
  // The second signal was ignored: a drain waiting on a hung upstream could only be
  // ended by SIGKILL, which also lost the records not yet written.
  const up = await startFakeOpenAI();
  const sub = mkdtempSync(join(dir, 'twice-'));
  t.after(() => up.close());
  const gw = await startServeProcess(
    sub,
    `flush_interval_ms: 60000  # nothing is written on its own during the test
providers:
  - { id: fake, kind: openai, base_url: "${up.baseUrl}", api_key: ${UPSTREAM_SECRET} }
models:
  - { id: m, upstreams: [{ provider: fake, model: up-m }], pricing: { input: "1", output: "2" } }
`,
  );
  const { key } = await gw.customer();
  const chat = () => fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
  const quick = await chat();
  assert.equal(quick.status, 200);
  const quickId = quick.headers.get('x-request-id')!;
  up.behave({ hang: true });
  const hung = chat().then((r) => r.status, () => 'cut');
  await new Promise((r) => setTimeout(r, 300));

  gw.proc.child.kill('SIGTERM');
  await gw.proc.waitFor(/SIGTERM: draining 1 in-flight requests and flushing logs \(SIGTERM again to stop now\)/);
  const t0 = performance.now();
  gw.proc.child.kill('SIGTERM');
  assert.deepEqual(await gw.proc.exited, { code: 1, signal: null }, gw.proc.stderr());
  assert.ok(performance.now() - t0 < 1500, 'it stopped at once');
  assert.match(gw.proc.stdout(), /SIGTERM again: stopping now; 1 in-flight requests are cut/);
  assert.equal(await hung, 'cut');

  const db = new Database(join(sub, 'tollgate.db'), { readonly: true });
  try {
    const row = db.prepare('SELECT status FROM requests WHERE id = ?').get(quickId) as any;
    assert.equal(row?.status, 200, 'the settled request was written before the exit');
    assert.ok(db.prepare("SELECT 1 FROM ledger WHERE request_id = ? AND kind = 'charge'").get(quickId), 'with its charge');
  } finally {
    db.close();
  }
});

test('a drain that outlasts shutdown_drain_ms cuts the stream: recorded as shutting_down and charged for what it streamed', async (t) => {
  // Without a bound, a stream longer than the supervisor's grace (Kubernetes: 30 s) was
  // ended by its SIGKILL, and nothing of what it had sent was charged.
  const up = await startFakeOpenAI();
  t.after(() => up.close());
  const sub = mkdtempSync(join(dir, 'bounded-'));
  const gw = await startServeProcess(sub, `shutdown_drain_ms: 500\n${configOn(up.baseUrl)}`);
  proc = gw.proc;
  const { accountId, key } = await gw.customer('10');
  // 200 words, 100 ms apart: 20 s, far past the drain.
  up.behave({ text: Array.from({ length: 200 }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 100, completionTokens: 200 });
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 200);
  const id = res.headers.get('x-request-id')!;
  const reader = res.body!.getReader();
  let seen = '';
  while (!seen.includes('w1')) {
    const { value, done } = await reader.read();
    assert.ok(!done, 'the stream ended before the SIGTERM');
    seen += new TextDecoder().decode(value);
  }
  const reading = (async () => {
    try {
      while (!(await reader.read()).done);
    } catch {
      /* cut by the gateway */
    }
  })();

  const t0 = performance.now();
  proc.child.kill('SIGTERM');
  assert.deepEqual(await proc.exited, { code: 0, signal: null }, proc.stderr());
  const took = performance.now() - t0;
  assert.ok(took < 8000, `exited ${Math.round(took)} ms after SIGTERM, not when the 20 s stream ended`);
  await reading;
  assert.match(proc.stdout() + proc.stderr(), /shutdown drain timed out; cutting the requests still in flight/);

  const db = new Database(join(sub, 'tollgate.db'), { readonly: true });
  try {
    const row = db.prepare('SELECT error_code, completion_tokens, cost FROM requests WHERE id = ?').get(id) as any;
    assert.ok(row, 'the cut request is recorded');
    assert.equal(row.error_code, 'shutting_down');
    assert.ok(row.completion_tokens > 0 && row.completion_tokens < 200, `charged for what it streamed (${row.completion_tokens} tokens)`);
    const charge = db.prepare("SELECT amount FROM ledger WHERE request_id = ? AND kind = 'charge'").get(id) as any;
    assert.equal(charge?.amount, -row.cost);
    assert.equal((db.prepare('SELECT count(*) AS n FROM reservations').get() as any).n, 0);
    const sum = db.prepare('SELECT sum(amount) AS s FROM ledger WHERE account_id = ?').get(accountId) as any;
    assert.equal((db.prepare('SELECT balance FROM accounts WHERE id = ?').get(accountId) as any).balance, sum.s);
  } finally {
    db.close();
  }
});
