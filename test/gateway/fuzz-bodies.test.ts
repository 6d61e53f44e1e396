import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeAnthropic } from '../helpers/fake-anthropic.ts';
import { startFakeGemini } from '../helpers/fake-gemini.ts';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { defaultConfig, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { pick, prng } from '../helpers/fuzz.ts';

// Bad input of every shape, generated: valid requests with values swapped for the wrong
// type, deleted or added members, JSON cut short, bytes that are not UTF-8. Whatever
// arrives, the gateway answers (no hang), never with a 500, and every error is
// OpenAI-shaped with the request id; the ledger still balances afterwards. The same cases
// go to an OpenAI-wire upstream and through the Anthropic and Gemini translations. The
// generator is seeded, so a failure names the seed and body that reproduce it.

const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const CASES = Number(process.env.FUZZ_CASES ?? 400);

const SEEDS: Array<{ path: string; body: Record<string, unknown> }> = [
  { path: '/v1/chat/completions', body: { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] } },
  { path: '/v1/chat/completions', body: { model: 'deepseek-v4-pro', stream: true, stream_options: { include_usage: true }, max_tokens: 50, temperature: 0.2, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'hello' }] }] } },
  { path: '/v1/chat/completions', body: { model: 'deepseek-v4-flash', tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }], tool_choice: 'auto', messages: [{ role: 'user', content: 'call f' }, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'tool', tool_call_id: 'c1', content: 'done' }] } },
  { path: '/v1/chat/completions', body: { model: 'deepseek-v4-flash', response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'object' } } }, max_completion_tokens: 20, n: 1, stop: ['x'], messages: [{ role: 'user', content: 'json' }] } },
  { path: '/v1/embeddings', body: { model: 'embed-small', input: ['a', 'b'] } },
];

const ODD_VALUES: unknown[] = [
  null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, '', ' ', 'x'.repeat(5000), '\u0000', '\ud800', '🙂', '"', '\\', '{}', [], {}, [[[]]], { a: { b: { c: [] } } },
  [null], [1, 'a', null], { role: 'user' }, { type: 'image_url', image_url: { url: 'data:,' } }, 'deepseek-v4-flash', 'no-such-model', '__proto__', { __proto__: { polluted: true } },
];

type Json = unknown;

/** Every path into a JSON value (keys and indexes), the root excluded. */
function paths(v: Json, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [];
  if (Array.isArray(v)) v.forEach((x, i) => out.push([...prefix, i], ...paths(x, [...prefix, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push([...prefix, k], ...paths(x, [...prefix, k]));
  return out;
}

function mutate(rand: () => number, body: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(body);
  const steps = 1 + Math.floor(rand() * 3);
  for (let s = 0; s < steps; s++) {
    const all = paths(copy);
    if (all.length === 0) break;
    const p = pick(rand, all);
    let parent: any = copy;
    for (const k of p.slice(0, -1)) parent = parent[k];
    const last = p.at(-1)!;
    const op = rand();
    if (op < 0.55) parent[last] = structuredClone(pick(rand, ODD_VALUES));
    else if (op < 0.8) {
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete parent[last];
    } else if (parent && typeof parent === 'object' && !Array.isArray(parent)) {
      parent[pick(rand, ['unknown_field', 'stream', 'model', 'messages', 'max_tokens', 'stream_options', 'user'])] = structuredClone(pick(rand, ODD_VALUES));
    } else parent[last] = structuredClone(pick(rand, ODD_VALUES));
  }
  return copy;
}

interface Case {
  path: string;
  /** What is sent, as bytes. */
  body: Buffer;
  label: string;
}

function generate(rand: () => number, n: number): Case[] {
  const cases: Case[] = [];
  for (let i = 0; i < n; i++) {
    const seed = pick(rand, SEEDS);
    const r = rand();
    if (r < 0.7) {
      cases.push({ path: seed.path, body: Buffer.from(JSON.stringify(mutate(rand, seed.body))), label: 'mutated' });
    } else if (r < 0.85) {
      const text = JSON.stringify(seed.body);
      cases.push({ path: seed.path, body: Buffer.from(text.slice(0, Math.floor(rand() * text.length))), label: 'cut short' });
    } else {
      // Valid JSON around bytes that are not UTF-8, or raw noise.
      const noise = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)));
      const wrapped = rand() < 0.5;
      cases.push({
        path: seed.path,
        body: wrapped ? Buffer.concat([Buffer.from('{"model":"deepseek-v4-flash","messages":[{"role":"user","content":"'), noise, Buffer.from('"}]}')]) : noise,
        label: wrapped ? 'non-UTF-8 content' : 'noise',
      });
    }
  }
  return cases;
}

/** A started upstream of one wire, and the gateway config that routes every model to it. */
async function upstreamOf(wire: 'openai' | 'anthropic' | 'gemini'): Promise<{ config: Record<string, unknown>; close: () => Promise<void> }> {
  if (wire === 'openai') {
    const up = await startFakeOpenAI();
    // A JSON answer, so json_schema requests can be met.
    up.behave({ text: '{"ok":true}' });
    return { config: defaultConfig(up.baseUrl), close: () => up.close() };
  }
  const up = wire === 'anthropic' ? await startFakeAnthropic({ eventDelayMs: 0 }) : await startFakeGemini({ eventDelayMs: 0 });
  const config = defaultConfig('http://127.0.0.1:2/v1') as { providers: Array<Record<string, unknown>>; models: Array<{ upstreams: Array<{ provider: string; model: string }> }> };
  config.providers = [{ id: 'fake', kind: wire, base_url: up.baseUrl, api_key: 'fuzz-upstream-key' }];
  for (const m of config.models) m.upstreams = [{ provider: 'fake', model: wire === 'anthropic' ? 'claude-haiku-4-5' : 'gemini-2.5-flash' }];
  return { config, close: () => up.close() };
}

for (const wire of ['openai', 'anthropic', 'gemini'] as const) {
  describe(`generated bad input (${wire} upstream)`, () => {
    let up: { close: () => Promise<void> };
    let tg: TestGateway;
    let key: string;

    before(async () => {
      const u = await upstreamOf(wire);
      up = u;
      tg = await startTestGateway({ config: u.config });
      ({ key } = await tg.customer({ creditUsd: '1000' }));
    });
    after(async () => {
      await tg.close();
      await up.close();
    });

    test(`${CASES} generated requests (seed ${SEED}): no 500, no hang, every error OpenAI-shaped`, async () => {
      const cases = generate(prng(SEED), CASES);
      const statuses = new Map<number, number>();
      // 8 at a time: concurrent, as a client's retries and parallel calls would be.
      for (let i = 0; i < cases.length; i += 8) {
        await Promise.all(
          cases.slice(i, i + 8).map(async (c, j) => {
            const where = `${wire}, case ${i + j} (${c.label}, seed ${SEED}): POST ${c.path} ${JSON.stringify(c.body.toString('latin1').slice(0, 300))}`;
            const res = await fetch(`${tg.url}${c.path}`, {
              method: 'POST',
              headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
              body: c.body,
              signal: AbortSignal.timeout(10_000),
            });
            const text = await res.text();
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            // The one 5xx that is not the gateway's: a schema the model's answer did not meet.
            const modelMissedSchema = res.status === 502 && text.includes('"code":"response_format_validation_failed"');
            assert.ok(res.status < 500 || modelMissedSchema, `${where} → ${res.status} ${text.slice(0, 300)}`);
            assert.match(res.headers.get('x-request-id') ?? '', /^req_/, where);
            if (res.status >= 400) {
              const body = JSON.parse(text);
              const e = body.error;
              assert.ok(e && typeof e.message === 'string' && e.message.length > 0, `${where}: error.message`);
              assert.equal(typeof e.type, 'string', where);
              assert.ok('param' in e && 'code' in e, `${where}: param and code present`);
              assert.equal(e.request_id, res.headers.get('x-request-id'), where);
            } else if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
              assert.ok(text.endsWith('data: [DONE]\n\n'), `${where}: a stream ends with [DONE]`);
            } else {
              assert.doesNotThrow(() => JSON.parse(text), where);
            }
          }),
        );
      }
      if (process.env.FUZZ_VERBOSE) console.log(wire, JSON.stringify([...statuses]));
      // The generator reached both sides: some requests were refused and some relayed.
      const ok = [...statuses].filter(([st]) => st < 300).reduce((a, [, n]) => a + n, 0);
      const refused = [...statuses].filter(([st]) => st >= 400).reduce((a, [, n]) => a + n, 0);
      assert.ok(ok >= CASES / 40 && refused >= CASES / 4, `statuses ${JSON.stringify([...statuses])}`);

      // Still serving, and no money appeared or vanished along the way.
      assert.equal((await fetch(`${tg.url}/healthz`)).status, 200);
      await tg.gw.rt.journal.flush();
      assert.deepEqual((await tg.admin('GET', '/ledger/verify')).body, { ok: true, mismatches: [] });
    });
  });
}
