import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { defaultConfig, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { picoToUsd, usdToPico } from '../../src/billing/money.ts';

// Requests whose input measures 0 tokens (embeddings of "" or of no token ids) used to
// reserve $0 and so skipped the balance check: an account at $0 ran them without end,
// each charged what the upstream reported, and its balance fell with every call.

/** embed-small's input price, $0.02 per 1M tokens, per token. */
const EMBED_TOKEN = 20_000n;

async function setup(t: { after: (fn: () => Promise<void>) => void }): Promise<{ up: FakeOpenAI; tg: TestGateway }> {
  const up = await startFakeOpenAI();
  const config = defaultConfig(up.baseUrl);
  // A model with no pricing at all is free.
  (config.models as unknown[]).push({ id: 'embed-free', type: 'embedding', owned_by: 'local', upstreams: [{ provider: 'fake', model: 'free-embedder' }] });
  const tg = await startTestGateway({ config });
  t.after(async () => {
    await tg.close();
    await up.close();
  });
  return { up, tg };
}

const sdk = (tg: TestGateway, key: string) => new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });

/** The status of one embeddings call through the SDK, and the error code of a refusal. */
async function embed(client: OpenAI, model: string, input: string[] | number[][]): Promise<{ status: number; code?: string }> {
  try {
    await client.embeddings.create({ model, input, encoding_format: 'float' });
    return { status: 200 };
  } catch (err) {
    if (!(err instanceof OpenAI.APIError)) throw err;
    return { status: err.status ?? 0, code: (err.error as any)?.code };
  }
}

async function charges(tg: TestGateway, accountId: string) {
  await tg.gw.rt.journal.flush();
  const r = await tg.admin('GET', `/accounts/${accountId}/ledger?limit=1000`);
  return (r.body.data as any[]).filter((e) => e.kind === 'charge');
}

test('an account at $0 cannot run zero-token embeddings, one at a time or 50 at once', async (t) => {
  const { up, tg } = await setup(t);
  up.behave({ usage: { prompt_tokens: 4, total_tokens: 4 } });
  const { accountId, key } = await tg.customer({ creditUsd: '0' });
  const client = sdk(tg, key);
  const before = up.requests.length;
  const inputs: Array<string[] | number[][]> = [[''], [[]]];
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => embed(client, 'embed-small', inputs[i % 2]!)));
  for (const r of results) assert.deepEqual(r, { status: 402, code: 'insufficient_funds' });
  assert.equal(up.requests.length, before, 'the upstream was never called');
  assert.equal((await charges(tg, accountId)).length, 0);
  const a = (await tg.admin('GET', `/accounts/${accountId}`)).body;
  assert.deepEqual([a.balance_usd, a.reserved_usd], ['0.00', '0.00']);
});

test('on a balance of three tokens, three of 50 concurrent zero-token embeddings run, and the balance goes below zero only by their recorded overruns', async (t) => {
  const { up, tg } = await setup(t);
  const { accountId, key } = await tg.customer({ creditUsd: picoToUsd(3n * EMBED_TOKEN) });
  const client = sdk(tg, key);
  // Every admitted request is held at the upstream until all 50 are decided, so no
  // settlement frees money mid-test; the upstream then reports 4 tokens for each.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  up.behave({ usage: { prompt_tokens: 4, total_tokens: 4 }, holdUntil: held });
  const before = up.requests.length;
  let refused = 0;
  const pending = Array.from({ length: 50 }, () =>
    embed(client, 'embed-small', ['']).then((r) => {
      if (r.status === 402) refused++;
      return r;
    }),
  );
  const deadline = Date.now() + 30_000;
  while (refused + (up.requests.length - before) < 50 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  release();
  const results = await Promise.all(pending);
  assert.equal(results.filter((r) => r.status === 200).length, 3, 'one token reserved each: three fit');
  assert.equal(results.filter((r) => r.status === 402 && r.code === 'insufficient_funds').length, 47);

  const list = await charges(tg, accountId);
  assert.equal(list.length, 3);
  let overruns = 0n;
  for (const c of list) {
    assert.equal(usdToPico(c.detail.reserved_usd), EMBED_TOKEN);
    assert.equal(-usdToPico(c.amount_usd), 4n * EMBED_TOKEN);
    overruns += usdToPico(c.detail.overrun_usd);
  }
  const balance = usdToPico((await tg.admin('GET', `/accounts/${accountId}`)).body.balance_usd);
  assert.equal(balance, 3n * EMBED_TOKEN - 12n * EMBED_TOKEN);
  assert.equal(-balance, overruns, 'below zero by the recorded overruns and nothing else');
  // In debt, nothing priced runs any more.
  assert.deepEqual(await embed(client, 'embed-small', ['']), { status: 402, code: 'insufficient_funds' });
  assert.deepEqual((await tg.admin('GET', '/ledger/verify')).body, { ok: true, mismatches: [] });
});

test('a model whose prices are all zero runs at any balance and is charged nothing', async (t) => {
  const { up, tg } = await setup(t);
  up.behave({ usage: { prompt_tokens: 4, total_tokens: 4 } });
  const { accountId, key } = await tg.customer({ creditUsd: '0' });
  const client = sdk(tg, key);
  for (const input of [[''], ['some text']]) assert.deepEqual(await embed(client, 'embed-free', input), { status: 200 });
  // An account in debt too.
  await tg.admin('POST', `/accounts/${accountId}/adjustments`, { amount_usd: '-1', reason: 'debt' });
  assert.deepEqual(await embed(client, 'embed-free', ['']), { status: 200 });
  assert.deepEqual(await embed(client, 'embed-small', ['']), { status: 402, code: 'insufficient_funds' });
  assert.equal((await charges(tg, accountId)).length, 0);
  assert.equal((await tg.admin('GET', `/accounts/${accountId}`)).body.balance_usd, '-1.00');
});
