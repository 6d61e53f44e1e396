import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SchemaCheckThread } from '../../src/gateway/json-schema-thread.ts';

// The schema-check thread's limits, with short ones, and the checks it runs. A real
// worker thread runs real ajv; the costly job is a recursive anyOf whose answer fails
// at the bottom, so that each level checks the next twice (2^30 checks: hours).

const branch = { type: 'object', properties: { c: { $ref: '#/$defs/n' } }, required: ['c'] };
const EXPONENTIAL = JSON.stringify({ $defs: { n: { anyOf: [branch, branch] } }, $ref: '#/$defs/n' });
let deep: object = {};
for (let i = 0; i < 30; i++) deep = { c: deep };
const DEEP = JSON.stringify(deep);
const OBJECT = JSON.stringify({ type: 'object', required: ['a'] });

/** Checks until the thread has loaded (a check that waits past waitMs is skipped as busy). */
async function loaded(thread: SchemaCheckThread): Promise<void> {
  thread.warm();
  for (let i = 0; i < 200; i++) {
    if ((await thread.check(OBJECT, '{"a":1}')).kind === 'valid') return;
  }
  assert.fail('the schema-check thread did not load');
}

describe('schema-check thread', () => {
  const thread = new SchemaCheckThread({ runMs: 400, waitMs: 150 });
  after(() => thread.close());

  test('checks answers: valid, invalid with what is wrong, and a schema ajv cannot compile left unchecked', async () => {
    await loaded(thread);
    assert.deepEqual(await thread.check(OBJECT, '{"a":1}'), { kind: 'valid' });
    assert.deepEqual(await thread.check(OBJECT, '{"b":1}'), { kind: 'invalid', violations: "(root) must have required property 'a'" });
    assert.deepEqual(await thread.check(OBJECT, 'not json'), { kind: 'invalid', violations: 'the answer is not valid JSON' });
    assert.deepEqual(await thread.check(JSON.stringify({ type: 'nonsense' }), '{}'), { kind: 'unchecked', reason: 'schema not supported' });
  });

  test('what is wrong is told in parts of at most 200 characters: the path is made of the answer\'s own keys', async () => {
    const schema = JSON.stringify({ type: 'object', additionalProperties: { type: 'integer' } });
    const key = 'k'.repeat(500_000);
    const got = await thread.check(schema, JSON.stringify({ [key]: 'not an integer' }));
    assert.equal(got.kind, 'invalid');
    const violations = (got as { violations: string }).violations;
    assert.ok(violations.length < 500, `${violations.length} characters`);
    assert.ok(violations.startsWith(`/${'k'.repeat(199)}…`), violations.slice(0, 40));
    assert.match(violations, /must be integer$/);
  });

  test('uniqueItems compares JSON values: members in any order are equal; 1 and "1", [1,2] and [2,1] are not', async () => {
    const unique = JSON.stringify({ type: 'array', uniqueItems: true });
    assert.deepEqual(await thread.check(unique, '[1, "1", [1,2], [2,1], {"a":[1]}, {"a":[1],"b":null}, null, false, 0]'), { kind: 'valid' });
    const dup = await thread.check(unique, '[{"a":1,"b":{"x":[1,{"y":2}]}}, 3, {"b":{"x":[1,{"y":2}]},"a":1}]');
    assert.deepEqual(dup, { kind: 'invalid', violations: '(root) must NOT have duplicate items (items ## 0 and 2 are identical)' });
    assert.deepEqual(await thread.check(unique, '[1, 1.0]'), { kind: 'invalid', violations: '(root) must NOT have duplicate items (items ## 0 and 1 are identical)' });
    // uniqueItems: false, and nested arrays, still work
    assert.deepEqual(await thread.check(JSON.stringify({ type: 'array', uniqueItems: false }), '[1,1]'), { kind: 'valid' });
    const nested = JSON.stringify({ type: 'object', properties: { l: { type: 'array', uniqueItems: true } } });
    assert.deepEqual(await thread.check(nested, '{"l":["x","x"]}'), { kind: 'invalid', violations: '/l must NOT have duplicate items (items ## 0 and 1 are identical)' });
  });

  test('a job past runMs is abandoned and its schema remembered; one waiting past waitMs goes unchecked; then a new thread checks again', async () => {
    const t0 = performance.now();
    const costly = thread.check(EXPONENTIAL, DEEP);
    const queued = thread.check(OBJECT, '{"a":1}');
    assert.deepEqual(await queued, { kind: 'unchecked', reason: 'busy' });
    const waited = performance.now() - t0;
    assert.ok(waited >= 140 && waited < 400, `the queued job waited ${waited.toFixed(0)} ms`);
    assert.deepEqual(await costly, { kind: 'unchecked', reason: 'timed out' });
    const ran = performance.now() - t0;
    assert.ok(ran >= 390 && ran < 2_000, `the costly job was given up after ${ran.toFixed(0)} ms`);

    const t1 = performance.now();
    assert.deepEqual(await thread.check(EXPONENTIAL, DEEP), { kind: 'unchecked', reason: 'timed out' });
    assert.ok(performance.now() - t1 < 50, 'a schema that ran out of time is not run again');

    // The terminated thread was replaced.
    await loaded(thread);
    assert.deepEqual(await thread.check(OBJECT, '{}'), { kind: 'invalid', violations: "(root) must have required property 'a'" });
  });

  test('a job that kills the thread (out of its heap) is answered unchecked, its schema is not tried again, and a new thread checks the rest', async () => {
    // With time enough, the exponential check piles up ajv's errors (allErrors) until the
    // thread's 256 MB heap is gone: it died every time here, at about 1.4 s.
    const roomy = new SchemaCheckThread({ runMs: 60_000, waitMs: 60_000 });
    try {
      await loaded(roomy);
      assert.deepEqual(await roomy.check(EXPONENTIAL, DEEP), { kind: 'unchecked', reason: 'checker failed' });
      const t0 = performance.now();
      assert.deepEqual(await roomy.check(EXPONENTIAL, DEEP), { kind: 'unchecked', reason: 'checker failed' });
      assert.ok(performance.now() - t0 < 50, 'a schema that killed the thread is not run again');
      await loaded(roomy);
      assert.deepEqual(await roomy.check(OBJECT, '{}'), { kind: 'invalid', violations: "(root) must have required property 'a'" });
    } finally {
      await roomy.close();
    }
  });

  test('after close, checks are skipped at once', async () => {
    const closed = new SchemaCheckThread();
    await closed.check(OBJECT, '{"a":1}');
    await closed.close();
    assert.deepEqual(await closed.check(OBJECT, '{"a":1}'), { kind: 'unchecked', reason: 'shutting down' });
  });
});
