import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { defaultConfig, startTestGateway } from '../helpers/gateway.ts';
import { picoToUsd, usdToPico } from '../../src/billing/money.ts';

// File and audio parts cost what the upstream says they cost (a PDF's pages, audio's
// seconds); the request's JSON tells the gateway nothing of it. Such a request reserves
// the model's context window, so that no number of them at once can overdraw a balance.

const CONTEXT = 100_000;
const MAX_OUT = 100;
// $1 per 1M input tokens, $2 per 1M output tokens, in picodollars per token.
const IN = 1_000_000n;
const OUT = 2_000_000n;
const RESERVE = BigInt(CONTEXT) * IN + BigInt(MAX_OUT) * OUT;

const pdf = { type: 'file', file: { filename: 'big.pdf', file_data: `data:application/pdf;base64,${'JVBERi0xLjQK'.repeat(40_000)}` } };
const audio = { type: 'input_audio', input_audio: { data: 'UklGR'.repeat(10_000), format: 'wav' } };
const ask = (part: unknown) => ({ model: 'docs', messages: [{ role: 'user', content: [{ type: 'text', text: 'summarise' }, part] }] });

test('a request with file or audio parts reserves the model context window, and concurrent ones cannot overdraw the balance', async (t) => {
  const up = await startFakeOpenAI();
  const base = defaultConfig(up.baseUrl);
  const tg = await startTestGateway({
    config: {
      ...base,
      models: [
        ...(base.models as unknown[]),
        { id: 'docs', context_window: CONTEXT, max_output_tokens: MAX_OUT, upstreams: [{ provider: 'fake', model: 'upstream-docs' }], pricing: { input: '1', output: '2' } },
      ],
    },
  });
  t.after(async () => {
    await tg.close();
    await up.close();
  });
  const call = (key: string, body: unknown) =>
    fetch(`${tg.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  // What was reserved for each kind of part, from the charge's ledger entry.
  up.behave({ promptTokens: 5_000, completionTokens: 10 });
  const probe = await tg.customer({ creditUsd: '10' });
  for (const part of [pdf, audio]) {
    const r = await call(probe.key, ask(part));
    assert.equal(r.status, 200, await r.text());
  }
  const entries = (await tg.admin('GET', `/accounts/${probe.accountId}/ledger`)).body.data.filter((e: any) => e.kind === 'charge');
  assert.equal(entries.length, 2);
  for (const e of entries) {
    assert.equal(usdToPico(e.detail.reserved_usd), RESERVE);
    assert.equal(usdToPico(e.amount_usd), -(5_000n * IN + 10n * OUT), 'charged what the upstream reported');
  }

  // A balance that covers the text but not the window: the file is refused before the upstream.
  const small = await tg.customer({ creditUsd: '0.05' });
  const before = up.requests.length;
  const refused = await call(small.key, ask(pdf));
  assert.equal(refused.status, 402);
  assert.equal(((await refused.json()) as any).error.code, 'insufficient_funds');
  assert.equal(up.requests.length, before, 'the upstream was not called');
  const text = await call(small.key, { model: 'docs', messages: [{ role: 'user', content: 'summarise this' }] });
  assert.equal(text.status, 200, await text.text());

  // 20 at once against a balance of three reservations and a half, each billed nearly the
  // whole window: three pass, and the balance never goes below zero.
  const c = await tg.customer({ creditUsd: '0' });
  const balance = 3n * RESERVE + RESERVE / 2n;
  await tg.admin('POST', `/accounts/${c.accountId}/credits`, { amount_usd: picoToUsd(balance) });
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  up.behave({ promptTokens: CONTEXT - 1_000, completionTokens: MAX_OUT, holdUntil: held });
  const seen = up.requests.length;
  let decided = 0;
  const pending = Array.from({ length: 20 }, (_, i) =>
    call(c.key, ask(i % 2 ? pdf : audio)).then(async (r) => {
      decided++;
      await r.text();
      return r.status;
    }),
  );
  const deadline = Date.now() + 20_000;
  while (decided + (up.requests.length - seen) < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  release();
  const statuses = await Promise.all(pending);
  assert.equal(statuses.filter((s) => s === 200).length, 3);
  assert.equal(statuses.filter((s) => s === 402).length, 17);
  const charge = BigInt(CONTEXT - 1_000) * IN + BigInt(MAX_OUT) * OUT;
  const a = (await tg.admin('GET', `/accounts/${c.accountId}`)).body;
  assert.equal(usdToPico(a.balance_usd), balance - 3n * charge);
  assert.ok(usdToPico(a.balance_usd) > 0n);
  assert.deepEqual((await tg.admin('GET', '/ledger/verify')).body, { ok: true, mismatches: [] });
});
