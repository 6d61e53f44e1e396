import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { startServeProcess, type TollgateProcess } from '../helpers/tollgate-process.ts';
import { UPSTREAM_SECRET } from '../helpers/http.ts';

// SIGTERM under load, with the clients leaving during the drain (a load balancer closing
// its connections, users pressing stop). Their connections close at once, so the server
// is closed before their exchanges have finished; the journal used to be flushed and
// closed right then, and every one of those requests was lost: no record, no charge for
// the text already streamed, and its reservation left open in the store.

const dir = mkdtempSync(join(tmpdir(), 'tollgate-shutdown-abandoned-'));
let proc: TollgateProcess | undefined;
after(async () => {
  await proc?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('SIGTERM with streams whose clients leave during the drain: each is recorded and charged for what it streamed', async (t) => {
  const up = await startFakeOpenAI({ text: 'w '.repeat(200).trim(), chunkDelayMs: 50, promptTokens: 10, completionTokens: 200 });
  t.after(() => up.close());
  const gw = await startServeProcess(
    dir,
    `flush_interval_ms: 5000  # longer than the test: only the shutdown's flush writes anything
providers:
  - id: fake
    kind: openai
    base_url: ${up.baseUrl}
    api_key: ${UPSTREAM_SECRET}
models:
  - id: m
    upstreams: [{ provider: fake, model: up-m }]
    pricing: { input: "1", output: "2" }
`,
  );
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
        body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
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
