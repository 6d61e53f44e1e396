import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { pick, prng } from '../helpers/fuzz.ts';

// The admin API with generated bad input, as the data plane gets in
// test/gateway/fuzz-bodies.test.ts: valid bodies with values swapped, deleted or added,
// money amounts at and past every edge, odd ids and query strings. Whatever arrives,
// no 5xx, every error OpenAI-shaped, and afterwards every balance still equals its
// ledger. Seeded; a failure names the seed and the request.

const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const CASES = Number(process.env.FUZZ_CASES ?? 400);

/** Amounts at and around every edge usdToPico and the balance range have. */
const AMOUNTS: unknown[] = [
  '1', '0', '-0', '0.000000000001', '0.0000000000001', '9223372.036854775807', '9223372.036854775808', '-9223372.036854775807',
  '9999999999999', '99999999999999', '4000000', '-4000000', ' 1 ', '+1', '1e3', '0x10', '1_000', 'NaN', 'Infinity', '', '.5', '5.', '１',
  1, 0.1, -0.5, 1e21, 1e-7, 1e308, Number.MAX_SAFE_INTEGER, NaN, null, true, [], {},
];
const ODD: unknown[] = [null, true, 0, -1, 1.5, 2 ** 53 + 1, '', ' ', 'x'.repeat(600), '\u0000', '🙂', '*', 'deepseek-*', [], {}, ['deepseek-v4-flash'], ['nope'], '2026-13-45T00:00:00Z', '2030-01-01T00:00:00Z', '1970-01-01T00:00:00.000Z'];
const IDS = ['', 'x', 'acct_nope', '..', '%2e%2e', 'a'.repeat(300), '%00', '%F0%9F%99%82'];

interface Call {
  method: string;
  path: string;
  body?: unknown;
}

function mutate(rand: () => number, body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  const keys = Object.keys(out);
  const op = rand();
  if (op < 0.5 && keys.length) {
    const k = pick(rand, keys);
    out[k] = k === 'amount_usd' && rand() < 0.7 ? pick(rand, AMOUNTS) : pick(rand, ODD);
  } else if (op < 0.7 && keys.length) delete out[pick(rand, keys)];
  else out[pick(rand, ['extra', 'balance', 'id', 'kind', 'models', 'rpm'])] = pick(rand, ODD);
  return out;
}

function generate(rand: () => number, n: number, accountId: string, keyId: string): Call[] {
  const acct = () => (rand() < 0.8 ? accountId : pick(rand, IDS));
  const calls: Call[] = [];
  for (let i = 0; i < n; i++) {
    const kind = Math.floor(rand() * 10);
    const m = (b: Record<string, unknown>) => (rand() < 0.85 ? mutate(rand, b) : b);
    switch (kind) {
      case 0: calls.push({ method: 'POST', path: '/accounts', body: m({ name: 'fuzz', plan: null }) }); break;
      case 1: calls.push({ method: 'PATCH', path: `/accounts/${acct()}`, body: m({ name: 'renamed', suspended: false }) }); break;
      case 2: calls.push({ method: 'POST', path: `/accounts/${acct()}/credits`, body: m({ amount_usd: pick(rand, AMOUNTS), note: 'fuzz' }) }); break;
      case 3: calls.push({ method: 'POST', path: `/accounts/${acct()}/adjustments`, body: m({ amount_usd: pick(rand, AMOUNTS), reason: 'fuzz', kind: pick(rand, ['adjustment', 'refund']) }) }); break;
      case 4: calls.push({ method: 'POST', path: `/accounts/${acct()}/keys`, body: m({ name: 'k', expires_at: '2030-01-01T00:00:00Z' }) }); break;
      case 5: calls.push({ method: 'PATCH', path: `/keys/${rand() < 0.7 ? keyId : pick(rand, IDS)}`, body: m({ name: 'k2', rpm: 10 }) }); break;
      case 6: calls.push({ method: 'PUT', path: `/models/${pick(rand, ['deepseek-v4-flash', 'nope', ''])}/pricing`, body: m({ input: '0.16', cached_input: '0.004', output: '0.30' }) }); break;
      case 7: calls.push({ method: 'POST', path: '/plans', body: m({ id: `p${i}`, models: ['deepseek-*'], rpm: 100 }) }); break;
      case 8: {
        const q = pick(rand, ['limit', 'from', 'to', 'group_by', 'before', 'after', 'account_id']);
        const v = encodeURIComponent(String(pick(rand, [...ODD, ...AMOUNTS])));
        calls.push({ method: 'GET', path: `${pick(rand, ['/requests', '/usage', `/accounts/${acct()}/usage`, `/accounts/${acct()}/ledger`, '/accounts', `/accounts/${acct()}/keys`, `/accounts/${acct()}/limits`])}?${q}=${v}` });
        break;
      }
      default: calls.push({ method: 'POST', path: `/accounts/${acct()}/credits`, body: rand() < 0.5 ? '{"amount_usd": "1"' : 'amount_usd=1' });
    }
  }
  return calls;
}

describe('generated bad admin input', () => {
  let tg: TestGateway;
  let accountId: string;
  let keyId: string;

  before(async () => {
    tg = await startTestGateway();
    ({ accountId, keyId } = await tg.customer({ creditUsd: '10' }));
  });
  after(() => tg.close());

  test(`${CASES} generated admin requests (seed ${SEED}): no 5xx, errors OpenAI-shaped, balances equal their ledgers`, async () => {
    const calls = generate(prng(SEED), CASES, accountId, keyId);
    const statuses = new Map<number, number>();
    for (let i = 0; i < calls.length; i += 8) {
      await Promise.all(
        calls.slice(i, i + 8).map(async (c, j) => {
          const where = `case ${i + j} (seed ${SEED}): ${c.method} ${c.path} ${JSON.stringify(c.body)?.slice(0, 300)}`;
          const res = await fetch(`${tg.url}/admin/v1${c.path}`, {
            method: c.method,
            headers: { authorization: `Bearer ${tg.adminToken}`, ...(c.body !== undefined ? { 'content-type': 'application/json' } : {}) },
            ...(c.body !== undefined ? { body: typeof c.body === 'string' ? c.body : JSON.stringify(c.body) } : {}),
            signal: AbortSignal.timeout(10_000),
          });
          const text = await res.text();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          assert.ok(res.status < 500, `${where} → ${res.status} ${text.slice(0, 300)}`);
          if (res.status >= 400) {
            const e = JSON.parse(text).error;
            assert.ok(e && typeof e.message === 'string' && e.message.length > 0, `${where}: error.message in ${text}`);
            assert.ok('type' in e && 'param' in e && 'code' in e, `${where}: OpenAI error shape in ${text}`);
          } else {
            assert.doesNotThrow(() => JSON.parse(text), where);
          }
        }),
      );
    }
    const ok = [...statuses].filter(([s]) => s < 300).reduce((a, [, n]) => a + n, 0);
    const refused = [...statuses].filter(([s]) => s >= 400).reduce((a, [, n]) => a + n, 0);
    if (process.env.FUZZ_VERBOSE) console.log(JSON.stringify([...statuses]));
    assert.ok(ok >= CASES / 10 && refused >= CASES / 4, `statuses ${JSON.stringify([...statuses])}`);
    assert.deepEqual((await tg.admin('GET', '/ledger/verify')).body, { ok: true, mismatches: [] });
  });
});
