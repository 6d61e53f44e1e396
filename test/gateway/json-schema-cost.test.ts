import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FakeOpenAI } from '../helpers/fake-openai.ts';
import { onFakeOpenAI, type TestGateway } from '../helpers/gateway.ts';
import { expectError, post, type RawResponse } from '../helpers/http.ts';
import { SCHEMA_CHECK_LIMITS } from '../../src/gateway/json-schema-thread.ts';

// Regression: checking a json_schema answer ran on the event loop, so one client's
// schema held every other client for as long as ajv took: 4,000 patterns (a 190 KB
// request) 16 s to compile, uniqueItems over 8,000 objects 1.3 s, a recursive anyOf
// against a 110-byte answer 1.5 s (doubling with each level of the answer). The check
// now runs on a thread of its own, within a time limit.

// The most /healthz may take while a costly check is in flight. Unfixed, each case below
// held the loop for 2 s or more; a loaded machine may delay a request by some tens of ms.
const STALL_MS = 300;

const PROBE_GAP_MS = 10;

/**
 * Requests /healthz every PROBE_GAP_MS until stopped, and gives the longest a round
 * (request and gap) ran over its gap. The rounds follow one another without a break,
 * so a stall of the event loop (this process's: the gateway runs in it) lengthens one.
 */
function probeHealthz(url: string) {
  let stop = false;
  let worst = 0;
  let count = 0;
  const done = (async () => {
    while (!stop) {
      const t = performance.now();
      const res = await fetch(`${url}/healthz`);
      await res.text();
      assert.equal(res.status, 200);
      count++;
      await new Promise((r) => setTimeout(r, PROBE_GAP_MS));
      worst = Math.max(worst, performance.now() - t - PROBE_GAP_MS);
    }
  })();
  return async () => {
    stop = true;
    await done;
    return { worst, count };
  };
}

const salt = () => Math.random().toString(36).slice(2, 8);

describe('a json_schema check does not hold the gateway', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;

  onFakeOpenAI((s) => ({ up, tg, key } = s));

  /** A non-streaming request for `schema`, with the upstream answering `answer`; /healthz probed meanwhile. */
  const heavy = async (schema: unknown, answer: string): Promise<{ res: RawResponse; ms: number; worst: number; count: number }> => {
    up.behave({ text: answer });
    const body = { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'answer as JSON' }], response_format: { type: 'json_schema', json_schema: { name: 's', schema } } };
    const stop = probeHealthz(tg.url);
    const t = performance.now();
    const res = await post(`${tg.url}/v1/chat/completions`, body, { key });
    const ms = performance.now() - t;
    return { res, ms, ...(await stop()) };
  };

  test('a schema ajv takes seconds to compile (4,000 patterns) is given up after the time limit; its answer is relayed, marked skipped', async () => {
    // The salt defeats any cache, as an attacker's would.
    const schema = { type: 'object', properties: Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`p${i}`, { type: 'string', pattern: `^a${i}${salt()}$` }])) };
    const r = await heavy(schema, '{}');
    assert.ok(r.worst < STALL_MS, `slowest of ${r.count} /healthz rounds ran over by ${r.worst.toFixed(0)} ms`);
    assert.equal(r.res.status, 200, r.res.text);
    assert.equal(JSON.parse(r.res.text).choices[0].message.content, '{}');
    assert.equal(r.res.headers.get('x-tollgate-schema-check'), 'skipped: timed out');
    assert.ok(r.count > 10, `/healthz answered only ${r.count} times in ${r.ms.toFixed(0)} ms`);
    assert.ok(r.ms < SCHEMA_CHECK_LIMITS.runMs + SCHEMA_CHECK_LIMITS.waitMs + 3_000, `the request took ${r.ms.toFixed(0)} ms`);
  });

  test('an answer that takes exponential time to check (recursive anyOf) is given up after the time limit; the same schema again is skipped at once', async () => {
    // Each level of the answer fails both branches, so each level checks the next twice: 2^24 checks.
    const branch = { type: 'object', properties: { c: { $ref: '#/$defs/n' } }, required: ['c'] };
    const schema = { $defs: { n: { anyOf: [branch, branch] } }, $ref: '#/$defs/n', description: salt() };
    let deep: object = {};
    for (let i = 0; i < 24; i++) deep = { c: deep };
    const r = await heavy(schema, JSON.stringify(deep));
    assert.ok(r.worst < STALL_MS, `slowest of ${r.count} /healthz rounds ran over by ${r.worst.toFixed(0)} ms`);
    assert.equal(r.res.status, 200, r.res.text);
    // Out of time on a slower machine, out of the thread's heap (errors piling up) on a
    // faster one: either way relayed unchecked, and the schema is not tried again.
    const skipped = r.res.headers.get('x-tollgate-schema-check');
    assert.ok(skipped === 'skipped: timed out' || skipped === 'skipped: checker failed', String(skipped));
    const again = await heavy(schema, JSON.stringify(deep));
    assert.equal(again.res.headers.get('x-tollgate-schema-check'), skipped);
    assert.ok(again.ms < SCHEMA_CHECK_LIMITS.runMs / 2, `the same schema again took ${again.ms.toFixed(0)} ms`);
  });

  test('uniqueItems over 12,000 objects is checked without a stall, and a duplicate is still caught', async () => {
    const items = Array.from({ length: 12_000 }, (_, i) => ({ id: i, kind: 'row', tags: ['a', 'b'] }));
    const schema = { type: 'array', uniqueItems: true, description: salt() };
    const ok = await heavy(schema, JSON.stringify(items));
    assert.ok(ok.worst < STALL_MS, `slowest of ${ok.count} /healthz rounds ran over by ${ok.worst.toFixed(0)} ms`);
    assert.equal(ok.res.status, 200, ok.res.text);
    assert.equal(ok.res.headers.get('x-tollgate-schema-check'), 'passed');

    // The last item repeats the first with its members in another order: equal in JSON Schema.
    const dup = [...items, { tags: ['a', 'b'], kind: 'row', id: 0 }];
    const bad = await heavy({ ...schema, description: salt() }, JSON.stringify(dup));
    assert.ok(bad.worst < STALL_MS, `slowest of ${bad.count} /healthz rounds ran over by ${bad.worst.toFixed(0)} ms`);
    const e = expectError(bad.res, { status: 502, type: 'api_error', code: 'response_format_validation_failed', param: 'response_format' });
    assert.match(e.message, /must NOT have duplicate items \(items ## 0 and 12000 are identical\)/);
  });

  test('a schema of 300 patterns is still compiled and enforced', async () => {
    const schema = {
      type: 'object',
      properties: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`p${i}`, { type: 'string', pattern: `^a${i}$` }])),
      description: salt(),
    };
    const good = await heavy(schema, JSON.stringify({ p7: 'a7', p299: 'a299' }));
    assert.equal(good.res.status, 200, good.res.text);
    assert.equal(good.res.headers.get('x-tollgate-schema-check'), 'passed');
    const bad = await heavy(schema, JSON.stringify({ p7: 'a8' }));
    const e = expectError(bad.res, { status: 502, type: 'api_error', code: 'response_format_validation_failed', param: 'response_format' });
    assert.match(e.message, /\/p7 must match pattern "\^a7\$"/);
  });
});
