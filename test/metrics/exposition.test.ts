import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { usdToPico } from '../../src/billing/money.ts';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { CLOSED_PORT } from '../helpers/http.ts';
import { checkExposition, type Sample } from './exposition.ts';

// /metrics as Prometheus reads it, scraped in the middle of a burst of mixed traffic:
// every scrape is valid text format (read strictly), and once the burst is over the
// totals over all series are what the request log and the ledger hold.

describe('the exposition checker', () => {
  test('refuses what Prometheus would', () => {
    const bad: Record<string, string> = {
      'no newline': '# TYPE a counter\na 1',
      'bad escape': '# TYPE a counter\na{x="\\t"} 1\n',
      'unquoted value': '# TYPE a counter\na{x=1} 1\n',
      'second TYPE': '# TYPE a counter\na 1\n# TYPE a counter\n',
      'split family': '# TYPE a counter\na{x="1"} 1\n# TYPE b gauge\nb 1\na{x="2"} 1\n',
      'duplicate series': '# TYPE a counter\na{x="1"} 1\na{x="1"} 2\n',
      'bad value': '# TYPE a gauge\na 0,5\n',
      'buckets not cumulative': '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      'count off': '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n',
    };
    for (const [what, text] of Object.entries(bad)) assert.ok(checkExposition(text).problems.length > 0, what);
    assert.deepEqual(checkExposition('# HELP a it\'s \\\\ fine\n# TYPE a counter\na{x="q\\"\\\\\\n"} 1\n\n').problems, []);
  });
});

describe('GET /metrics during and after a burst', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;

  before(async () => {
    up = await startFakeOpenAI({ text: 'one two three four five', chunkDelayMs: 5 });
    tg = await startTestGateway({
      config: {
        providers: [
          { id: 'fake', kind: 'openai', base_url: up.baseUrl, api_key: 'sk-up-0123456789' },
          { id: 'dead', kind: 'openai', base_url: `http://127.0.0.1:${CLOSED_PORT}/v1`, api_key: 'sk-dead-0123456789' },
        ],
        models: [
          { id: 'flash', upstreams: [{ provider: 'fake', model: 'up-flash' }], pricing: { input: '0.16', cached_input: '0.004', output: '0.30' } },
          { id: 'failover', upstreams: [{ provider: 'dead', model: 'x', priority: 1 }, { provider: 'fake', model: 'up-flash' }], pricing: { input: '1', output: '2' } },
          { id: 'embed', type: 'embedding', upstreams: [{ provider: 'fake', model: 'up-embed' }], pricing: { input: '0.02', output: '0' } },
        ],
      },
    });
    ({ key } = await tg.customer({ creditUsd: '50' }));
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  const scrape = async () => {
    const res = await fetch(`${tg.url}/metrics`, { headers: { authorization: `Bearer ${tg.adminToken}` } });
    assert.equal(res.status, 200);
    return res.text();
  };
  const total = (samples: Sample[], name: string) => samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);

  test('every scrape is valid, and the totals match the request log and the ledger', async () => {
    const jobs: Promise<unknown>[] = [];
    const scrapes: Promise<string>[] = [];
    for (let i = 0; i < 120; i++) {
      const stream = i % 2 === 0;
      const model = i % 9 === 0 ? `no-such-model-${i}` : i % 10 === 0 ? 'embed' : i % 7 === 0 ? 'failover' : 'flash';
      const body = model === 'embed' ? { model, input: `text ${i}` } : { model, stream, ...(stream ? { stream_options: { include_usage: true } } : {}), messages: [{ role: 'user', content: `hi ${i}` }] };
      const ac = new AbortController();
      jobs.push(
        (async () => {
          const res = await fetch(`${tg.url}/v1/${model === 'embed' ? 'embeddings' : 'chat/completions'}`, {
            method: 'POST',
            signal: ac.signal,
            headers: { authorization: `Bearer ${i % 13 === 0 ? 'sk-tg-not-a-key' : key}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          // Some streaming clients leave after the first frame: charged for what they got.
          if (stream && i % 5 === 0 && res.status === 200) {
            await res.body!.getReader().read();
            ac.abort();
            return;
          }
          await res.text();
        })().catch(() => {}),
      );
      if (i % 15 === 0) scrapes.push(scrape());
    }
    for (const text of await Promise.all(scrapes)) assert.deepEqual(checkExposition(text).problems, [], 'a scrape during the burst');
    await Promise.all(jobs);
    // A client that left is settled when its upstream call has been aborted: wait for it.
    for (let i = 0; tg.gw.rt.inFlight > 0; i++) {
      assert.ok(i < 200, 'requests finished');
      await new Promise((r) => setTimeout(r, 25));
    }
    await tg.gw.rt.journal.flush();

    const text = await scrape();
    const { problems, samples } = checkExposition(text);
    assert.deepEqual(problems, []);
    const db = new Database(join(tg.dir, 'tollgate.db'), { readonly: true });
    try {
      const log = db.prepare('SELECT count(*) AS n, sum(prompt_tokens) AS p, sum(cached_tokens) AS c, sum(completion_tokens) AS k, sum(failover) AS f FROM requests').get() as any;
      const charged = db.prepare("SELECT -sum(amount) AS s FROM ledger WHERE kind = 'charge'").get() as any;
      assert.equal(log.n, 120, 'every request is in the log');
      assert.equal(total(samples, 'tollgate_requests_total'), log.n);
      assert.equal(total(samples, 'tollgate_prompt_tokens_total'), log.p);
      assert.equal(total(samples, 'tollgate_cached_prompt_tokens_total'), log.c);
      assert.equal(total(samples, 'tollgate_completion_tokens_total'), log.k);
      assert.equal(total(samples, 'tollgate_failovers_total'), log.f);
      assert.ok(log.f > 0, 'some requests failed over');
      // Everything flushed: nothing waiting, no commit failed.
      assert.equal(total(samples, 'tollgate_journal_pending'), 0);
      assert.equal(samples.filter((s) => s.name === 'tollgate_journal_failed_commits_total').length, 1);
      assert.equal(total(samples, 'tollgate_journal_failed_commits_total'), 0);
      // Money: summed exactly, as text, not as floats.
      const usd = text.split('\n').filter((l) => l.startsWith('tollgate_charged_usd_total{'));
      assert.equal(usd.reduce((a, l) => a + usdToPico(l.slice(l.lastIndexOf(' ') + 1)), 0n), BigInt(charged.s));
      // By status, as the log has them.
      const byStatus = db.prepare('SELECT status, count(*) AS n FROM requests GROUP BY status').all() as Array<{ status: number; n: number }>;
      for (const { status, n } of byStatus) {
        assert.equal(samples.filter((s) => s.name === 'tollgate_requests_total' && s.labels.status === String(status)).reduce((a, s) => a + s.value, 0), n, `status ${status}`);
      }
      // Unknown model names add no series.
      assert.ok(!text.includes('no-such-model'));
    } finally {
      db.close();
    }
    assert.equal(samples.find((s) => s.name === 'tollgate_requests_in_flight')?.value, 0);
    assert.equal(samples.find((s) => s.name === 'tollgate_reservations_open')?.value, 0);
  });
});
