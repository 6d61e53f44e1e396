import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withTopLevelMembers } from '../../src/protocol/json-members.ts';

// Editing top-level members in place must mean exactly what serialising the edited
// object means, and keep every other byte. Random objects whose strings are dense in
// quotes, backslashes and the member names themselves make every escape case common.

function rng(seed: number): () => number {
  let v = seed;
  return () => {
    v = (v * 1103515245 + 12345) & 0x7fffffff;
    return v / 0x80000000;
  };
}

const PIECES = ['"', '\\', '\\"', 'model', '"model":', '{', '}', '[', ']', ',', ':', ' ', '\n', 'é', '😀', 'x'];
const NAMES = ['model', 'messages', 'stream_options', 'max_tokens', 'seed', 'x', 'mo"del', 'a\\b'];

function randomString(r: () => number): string {
  let s = '';
  const n = Math.floor(r() * 8);
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(r() * PIECES.length)];
  return s;
}

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 2 ? 5 : 7));
  switch (k) {
    case 0: return randomString(r);
    case 1: return Math.floor(r() * 2000) - 1000;
    case 2: return r() < 0.5;
    case 3: return null;
    case 4: return r() * 10;
    case 5: return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 4); i > 0; i--) o[NAMES[Math.floor(r() * NAMES.length)]!] = randomValue(r, depth + 1);
      return o;
    }
  }
}

/** JSON with whitespace around every colon, comma and bracket. */
function spaced(v: unknown): string {
  if (Array.isArray(v)) return `[ ${v.map(spaced).join(' ,\n\t')} ]`;
  if (v && typeof v === 'object') return `{ ${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)} :\r\n ${spaced(x)}`).join(' , ')} }`;
  return JSON.stringify(v);
}

/** The same object in one of several layouts: compact, indented, or spaced everywhere. */
function layout(o: unknown, style: number): string {
  if (style === 0) return JSON.stringify(o);
  if (style === 1) return JSON.stringify(o, null, 2);
  return `\n ${spaced(o)} \n`;
}

test('editing members in place means what serialising the edited object means', () => {
  const r = rng(5);
  for (let n = 0; n < 3000; n++) {
    const obj: Record<string, unknown> = {};
    for (let i = Math.floor(r() * 6); i > 0; i--) obj[NAMES[Math.floor(r() * NAMES.length)]!] = randomValue(r, 0);
    const text = layout(obj, n % 3);
    const changes: Record<string, unknown> = {};
    for (let i = Math.floor(r() * 3); i > 0; i--) changes[NAMES[Math.floor(r() * NAMES.length)]!] = randomValue(r, 1);
    const out = withTopLevelMembers(text, changes);
    assert.notEqual(out, null, text);
    assert.deepEqual(JSON.parse(out!), { ...obj, ...changes }, `${text}\n+ ${JSON.stringify(changes)}\n= ${out}`);
    // No change: not a byte differs.
    assert.equal(withTopLevelMembers(text, {}), text);
  }
});

test('members that are not changed keep their bytes: numbers JSON.parse would round, spacing, escapes', () => {
  const text = '{ "seed" : 12345678901234567890, "t": 1.0, "s": "a\\u00e9\\"b", "model": "x", "big": [1e2, {"model": "inner"}] }';
  const out = withTopLevelMembers(text, { model: 'up', stream_options: { include_usage: true } });
  assert.equal(out, '{ "seed" : 12345678901234567890, "t": 1.0, "s": "a\\u00e9\\"b", "model": "up", "big": [1e2, {"model": "inner"}] ,"stream_options":{"include_usage":true}}');
});

test('a member name written with escapes is the member it names', () => {
  const out = withTopLevelMembers('{"m\\u006fdel":"a","n":1}', { model: 'b' });
  assert.equal(out, '{"m\\u006fdel":"b","n":1}');
  assert.deepEqual(JSON.parse(out!), { model: 'b', n: 1 });
});

test('an empty object gets the members without a stray comma', () => {
  assert.equal(withTopLevelMembers('{}', { model: 'm' }), '{"model":"m"}');
  assert.equal(withTopLevelMembers(' { \n } ', { a: 1, b: [2] }), ' { \n "a":1,"b":[2]} ');
});

test('strings ending in backslashes close where JSON says they do', () => {
  const text = '{"a":"x\\\\","model":"m","b":"\\\\\\"","c":"\\\\\\\\"}';
  assert.deepEqual(Object.keys(JSON.parse(text)), ['a', 'model', 'b', 'c']);
  // Each member is found where it is: replaced in place, never appended as a second one.
  for (const name of ['a', 'model', 'b', 'c']) {
    const out = withTopLevelMembers(text, { [name]: 'z' })!;
    assert.deepEqual(JSON.parse(out), { ...JSON.parse(text), [name]: 'z' });
    assert.equal(out.split(`"${name}":`).length, 2, out);
  }
});

test('not one plain object: null, so the caller serialises instead', () => {
  // A name given twice means different things to different parsers...
  assert.equal(withTopLevelMembers('{"model":"a","model":"b"}', { model: 'c' }), null);
  assert.equal(withTopLevelMembers('{"model":"a","m\\u006fdel":"b"}', { model: 'c' }), null);
  // ...and so does any other: the gateway checked the last "messages" (JSON.parse keeps
  // it), and an upstream whose parser keeps the first would read another prompt.
  assert.equal(withTopLevelMembers('{"messages":[1],"messages":[2],"model":"a"}', { model: 'c' }), null);
  assert.equal(withTopLevelMembers('{"messages":[1],"model":"a","m\\u0065ssages":[2]}', { model: 'c' }), null);
  // Names that only look alike are different names.
  assert.equal(withTopLevelMembers('{"ab":1,"ba":2,"a":3,"model":"a"}', { model: 'c' }), '{"ab":1,"ba":2,"a":3,"model":"c"}');
  assert.equal(withTopLevelMembers('{"x\\u0079":1,"xz":2,"model":"a"}', { model: 'c' }), '{"x\\u0079":1,"xz":2,"model":"c"}');
  for (const text of ['[1,2]', '"model"', '12', 'null', '{"a":1} {"b":2}']) assert.equal(withTopLevelMembers(text, { model: 'c' }), null, text);
  // A value JSON cannot hold.
  assert.equal(withTopLevelMembers('{"a":1}', { b: undefined }), null);
});

test('a 39 KB coding-assistant body is edited without re-serialising it', () => {
  const messages = [];
  for (let i = 0; i < 60; i++) messages.push({ role: i % 2 ? 'assistant' : 'user', content: `fix \`f${i}(a) { return a * "x"; }\` please\n`.repeat(14) });
  const text = JSON.stringify({ model: 'pub', messages, temperature: 0.2, stream: true });
  const out = withTopLevelMembers(text, { model: 'up', stream_options: { include_usage: true } })!;
  assert.equal(out, `${text.replace('"model":"pub"', '"model":"up"').slice(0, -1)},"stream_options":{"include_usage":true}}`);
});

test('an object of very many members is walked in linear time: duplicates are found through a set past the first few', () => {
  const parts = ['"model":"m"'];
  for (let i = 0; i < 100_000; i++) parts.push(`"x${i}":0`);
  const text = `{${parts.join(',')}}`;
  const t = performance.now();
  assert.notEqual(withTopLevelMembers(text, { model: 'up' }), null);
  // Comparing each name with every other took a minute here.
  assert.ok(performance.now() - t < 2_000, `${Math.round(performance.now() - t)} ms`);
  // A duplicate far in, plain or escaped, is still found.
  assert.equal(withTopLevelMembers(`{${parts.join(',')},"x99999":1}`, { model: 'up' }), null);
  assert.equal(withTopLevelMembers(`{${parts.join(',')},"\\u0078\\u0035":1}`, { model: 'up' }), null);
});

test('a value past 64 KB (an embeddings answer of megabytes of floats) is skipped correctly, strings with brackets and escapes included', () => {
  const vector = Array.from({ length: 3072 }, (_, i) => ((i % 97) / 97 - 0.5).toFixed(9)).join(',');
  const tricky = 'a "quoted" ] } [ { \\\\ value \\\\';
  const data = Array.from({ length: 40 }, (_, i) => `{"object":"embedding","index":${i},"note":${JSON.stringify(tricky)},"embedding":[${vector}]}`).join(',');
  const text = `{"object":"list","data":[${data}],"model":"up-model","usage":{"prompt_tokens":5,"total_tokens":5}}`;
  assert.ok(text.length > 1_000_000);
  const started = performance.now();
  const out = withTopLevelMembers(text, { model: 'public', usage: { prompt_tokens: 5, total_tokens: 5, cost: '0.1' } });
  const took = performance.now() - started;
  assert.ok(out);
  const parsed = JSON.parse(out);
  assert.equal(parsed.model, 'public');
  assert.equal(parsed.usage.cost, '0.1');
  assert.equal(parsed.data.length, 40);
  assert.equal(parsed.data[39].note, tricky);
  assert.ok(out.startsWith(text.slice(0, text.indexOf('"model"'))), 'the data member is kept byte for byte');
  assert.ok(took < 200, `took ${took} ms`);
  // Cut anywhere inside the big value: not one object, so null, never a wrong edit.
  assert.equal(withTopLevelMembers(text.slice(0, 500_000), { model: 'x' }), null);
});
