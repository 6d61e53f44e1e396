import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGatewayOnFakeOpenAI } from '../helpers/gateway.ts';
import { usdToPico } from '../../src/billing/money.ts';

// `n` asks for n choices of up to max_tokens each, and OpenAI bills the completion
// tokens of all of them: the reservation must cover n times the output cap. It used to
// cover one choice, so `n: 8` on a nearly empty account ran and drove it into debt.

const OUTPUT_PICO_PER_TOKEN = 300_000n; // deepseek-v4-flash: $0.30 per 1M output tokens

const setup = startGatewayOnFakeOpenAI;

test('the reservation of a request with n choices covers n times the output cap', async (t) => {
  const { up, tg } = await setup(t);
  const { accountId, key } = await tg.customer({ creditUsd: '1' });
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
  const reservedWhileHeld = async (n: number): Promise<bigint> => {
    let answer!: () => void;
    up.behave({ holdUntil: new Promise<void>((r) => (answer = r)) });
    const seen = up.requests.length;
    const call = client.chat.completions.create({ model: 'deepseek-v4-flash', n, max_tokens: 1000, messages: [{ role: 'user', content: 'name a colour' }] });
    while (up.requests.length === seen) await new Promise((r) => setTimeout(r, 5));
    const a = await tg.admin('GET', `/accounts/${accountId}`);
    answer();
    await call;
    return usdToPico(a.body.reserved_usd);
  };
  const one = await reservedWhileHeld(1);
  const three = await reservedWhileHeld(3);
  assert.ok(one > 0n);
  assert.equal(three - one, 2n * 1000n * OUTPUT_PICO_PER_TOKEN);
  // The upstream still gets the client's n as sent.
  assert.equal(up.requests.at(-1)!.body.n, 3);
});

test('n choices that the balance cannot cover are refused with 402 before the upstream is called', async (t) => {
  const { up, tg } = await setup(t);
  // $0.005 covers one choice of 10,000 tokens ($0.003) but not two ($0.006).
  const { key } = await tg.customer({ creditUsd: '0.005' });
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
  const body = { model: 'deepseek-v4-flash', max_tokens: 10_000, messages: [{ role: 'user' as const, content: 'hi' }] };
  const ok = await client.chat.completions.create({ ...body, n: 1 });
  assert.equal(ok.choices.length, 1);
  const seen = up.requests.length;
  const err = await client.chat.completions.create({ ...body, n: 2 }).then(
    () => assert.fail('n: 2 was admitted'),
    (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
  );
  assert.equal(err.status, 402);
  assert.equal(err.code, 'insufficient_funds');
  assert.match(err.message, /up to 20000 output tokens/);
  assert.equal(up.requests.length, seen);
});
