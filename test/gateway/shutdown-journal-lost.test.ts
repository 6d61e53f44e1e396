import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import pino from 'pino';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { defaultConfig, startTestGateway } from '../helpers/gateway.ts';

// A shutdown whose journal cannot be written (another process holds the store's write
// lock past the 30 s of retries) loses the charges still queued. That was logged, and
// then the shutdown succeeded: `tollgate serve` exited 0, and a supervisor saw a clean
// stop. It fails now, so serve exits 1 ("shutdown failed: ...").

test('a shutdown that could not write the journal fails, saying how much was lost', { timeout: 90_000 }, async (t) => {
  const up = await startFakeOpenAI();
  t.after(() => up.close());
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const tg = await startTestGateway({ config: { ...defaultConfig(up.baseUrl), flush_interval_ms: 60_000 }, logger: pino({ level: 'warn' }, sink) });
  t.after(() => rmSync(tg.dir, { recursive: true, force: true }));
  const { key } = await tg.customer();
  await tg.gw.rt.journal.flush();

  const other = new Database(join(tg.dir, 'tollgate.db'));
  other.exec('BEGIN IMMEDIATE'); // a sqlite3 shell left in a transaction
  t.after(() => other.close());
  const res = await fetch(`${tg.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 200);
  await res.text();

  const t0 = performance.now();
  await assert.rejects(tg.gw.close(), /could not be written.*lost/);
  assert.ok(performance.now() - t0 >= 29_000, 'it retried for the 30 s first');
  assert.match(lines.join(''), /journal could not be written before shutdown/);
  other.exec('ROLLBACK');
});
