import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { startGatewayOnFakeOpenAI, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { usdToPico, picoToUsd } from '../../src/billing/money.ts';
import { countTextTokens } from '../../src/limits/token-count.ts';

// Reserve-then-settle against a real gateway and a real upstream, every hard case.

const setup = startGatewayOnFakeOpenAI;

async function account(tg: TestGateway, id: string) {
  const r = await tg.admin('GET', `/accounts/${id}`);
  assert.equal(r.status, 200);
  return r.body as { balance_usd: string; reserved_usd: string; available_usd: string };
}

async function ledger(tg: TestGateway, id: string) {
  const r = await tg.admin('GET', `/accounts/${id}/ledger?limit=1000`);
  assert.equal(r.status, 200);
  return r.body.data as Array<{ kind: string; amount_usd: string; request_id: string | null; detail: any }>;
}

async function verify(tg: TestGateway) {
  const r = await tg.admin('GET', '/ledger/verify');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { ok: true, mismatches: [] });
}

test('a non-streaming request is charged exactly its metered usage, traced in the ledger', async (t) => {
  const { up, tg } = await setup(t);
  up.behave({ promptTokens: 1200, cachedTokens: 1000, completionTokens: 50, cacheStyle: 'deepseek' });
  const { accountId, key } = await tg.customer({ creditUsd: '1' });
  const res = await fetch(`${tg.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'deepseek-v4-flash', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as any;
  // 200 fresh × 0.16 + 1000 cached × 0.004 + 50 out × 0.30, per 1M
  const expected = 200n * 160_000n + 1000n * 4_000n + 50n * 300_000n;
  assert.equal(body.usage.cost, picoToUsd(expected));
  assert.equal(res.headers.get('x-tollgate-cost'), picoToUsd(expected));
  assert.match(res.headers.get('x-tollgate-token-rate')!, /input=0\.16;cached_input=0\.004;output=0\.3/);
  const entries = await ledger(tg, accountId);
  const charge = entries.find((e) => e.kind === 'charge')!;
  assert.equal(charge.request_id, res.headers.get('x-request-id'));
  assert.equal(charge.amount_usd, picoToUsd(-expected));
  assert.equal(charge.detail.prompt_tokens, 1200);
  assert.equal(charge.detail.cached_tokens, 1000);
  assert.equal(charge.detail.completion_tokens, 50);
  assert.deepEqual(charge.detail.prices, { input: '0.16', cached_input: '0.004', output: '0.3', cache_write: '0.16' });
  const a = await account(tg, accountId);
  assert.equal(usdToPico(a.balance_usd), usdToPico('1') - expected);
  assert.equal(a.reserved_usd, '0.00');
  await verify(tg);
});

test('usage an upstream cannot have meant is not billed as reported: the request costs its reservation, and the journal goes on', async (t) => {
  const { up, tg } = await setup(t);
  const { accountId, key } = await tg.customer({ creditUsd: '10' });
  const call = async (stream = false) => {
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'deepseek-v4-flash', max_tokens: 10, stream, ...(stream ? { stream_options: { include_usage: true } } : {}), messages: [{ role: 'user', content: 'hi' }] }),
    });
    return { id: res.headers.get('x-request-id')!, status: res.status, text: await res.text() };
  };
  // 1e300 prompt tokens: charged as reported, this made the balance -1.6e293 USD and
  // every later journal batch fail. 2^60 is a safe-integer overflow of its own.
  const absurd = [
    { prompt_tokens: 1e300, completion_tokens: 5, total_tokens: 1e300 },
    { prompt_tokens: 5, completion_tokens: 2 ** 60, total_tokens: 2 ** 60 },
  ];
  const ids: string[] = [];
  for (const [i, usage] of absurd.entries()) {
    up.behave({ usage });
    const r = await call(i === 1);
    assert.equal(r.status, 200, r.text);
    ids.push(r.id);
  }
  up.behave({ promptTokens: 7, completionTokens: 3 });
  const normal = await call();
  assert.equal(normal.status, 200);
  await tg.gw.rt.journal.flush();
  const entries = await ledger(tg, accountId);
  for (const id of ids) {
    const charge = entries.find((e) => e.kind === 'charge' && e.request_id === id);
    assert.ok(charge, `a charge for ${id}`);
    assert.equal(charge.detail.usage_rejected, true);
    const row = (await tg.admin('GET', `/requests?account_id=${accountId}`)).body.data.find((x: any) => x.id === id);
    assert.ok(row, 'the request was logged');
    assert.ok(usdToPico(charge.detail.reserved_usd) > 0n);
    assert.equal(-usdToPico(charge.amount_usd), usdToPico(charge.detail.reserved_usd), 'charged exactly the reservation');
    assert.equal(row.cost_usd, picoToUsd(usdToPico(charge.detail.reserved_usd)));
    // Logged as the reservation's tokens (input at $0.16/M, output at $0.30/M), not as reported.
    assert.equal(BigInt(row.prompt_tokens) * 160_000n + BigInt(row.completion_tokens) * 300_000n, usdToPico(charge.detail.reserved_usd), 'the logged tokens are what was charged');
  }
  // The journal still works: the request after them is logged and charged as metered.
  const after = entries.find((e) => e.kind === 'charge' && e.request_id === normal.id);
  assert.ok(after, 'the next request was charged');
  assert.equal(-usdToPico(after.amount_usd), 7n * 160_000n + 3n * 300_000n);
  const a = await account(tg, accountId);
  assert.equal(a.reserved_usd, '0.00');
  assert.ok(usdToPico(a.balance_usd) > usdToPico('9.99'), `balance ${a.balance_usd}`);
  await verify(tg);
});

test('streams are billed exactly like non-streaming requests, with or without include_usage', async (t) => {
  const { up, tg } = await setup(t);
  up.behave({ text: 'a b c d', promptTokens: 40, completionTokens: 4 });
  const { accountId, key } = await tg.customer({ creditUsd: '1' });
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key });
  const plain = await client.chat.completions.create({ model: 'deepseek-v4-pro', messages: [{ role: 'user', content: 'x' }] });
  const s1 = await client.chat.completions.create({ model: 'deepseek-v4-pro', stream: true, messages: [{ role: 'user', content: 'x' }] });
  for await (const _ of s1) void _;
  const s2 = await client.chat.completions.create({ model: 'deepseek-v4-pro', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'x' }] });
  let usage: any;
  for await (const c of s2) if (c.usage) usage = c.usage;
  const each = 40n * 600_000n + 4n * 1_200_000n;
  assert.equal((plain.usage as any).cost, picoToUsd(each));
  assert.equal(usage.cost, picoToUsd(each));
  const charges = (await ledger(tg, accountId)).filter((e) => e.kind === 'charge');
  assert.equal(charges.length, 3);
  for (const c of charges) assert.equal(c.amount_usd, picoToUsd(-each));
  assert.equal(usdToPico((await account(tg, accountId)).balance_usd), usdToPico('1') - 3n * each);
  await verify(tg);
});

test('402 insufficient_funds before the upstream is touched; suspended accounts get 402 account_suspended', async (t) => {
  const { up, tg } = await setup(t);
  const { accountId, key } = await tg.customer({ creditUsd: '0.0001' });
  const before = up.requests.length;
  const res = await fetch(`${tg.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'deepseek-v4-pro', max_tokens: 10_000, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 402);
  const err = ((await res.json()) as any).error;
  assert.equal(err.code, 'insufficient_funds');
  assert.equal(err.type, 'insufficient_quota');
  assert.equal(err.request_id, res.headers.get('x-request-id'));
  assert.equal(up.requests.length, before);
  // A small max_tokens fits the same balance.
  const ok = await fetch(`${tg.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'deepseek-v4-pro', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(ok.status, 200);
  await ok.text();

  const p = await tg.admin('PATCH', `/accounts/${accountId}`, { suspended: true });
  assert.equal(p.status, 200);
  assert.equal(p.body.suspended, true);
  const s = await fetch(`${tg.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'deepseek-v4-flash', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(s.status, 402);
  assert.equal(((await s.json()) as any).error.code, 'account_suspended');
  await tg.admin('PATCH', `/accounts/${accountId}`, { suspended: false });
  const again = await fetch(`${tg.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'deepseek-v4-flash', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(again.status, 200);
  await again.text();
});

test('an upstream error before any output releases the reservation and charges nothing', async (t) => {
  const { up, tg } = await setup(t);
  const { accountId, key } = await tg.customer({ creditUsd: '1' });
  for (const b of [{ status: 500 }, { status: 400 }, { garbage: true }]) {
    up.behave(b);
    for (const stream of [false, true]) {
      const res = await fetch(`${tg.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'deepseek-v4-flash', stream, messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.ok(res.status >= 400, `status ${res.status} for ${JSON.stringify(b)}`);
      await res.text();
    }
  }
  const a = await account(tg, accountId);
  assert.equal(a.balance_usd, '1.00');
  assert.equal(a.reserved_usd, '0.00');
  assert.equal((await ledger(tg, accountId)).filter((e) => e.kind === 'charge').length, 0);
  await verify(tg);
});

test('a stream the upstream cuts midway is charged for the text already streamed', async (t) => {
  const { up, tg } = await setup(t);
  const text = 'alpha beta gamma delta epsilon zeta eta theta';
  up.behave({ text, dieAfterChunks: 3, chunkDelayMs: 30 });
  const { accountId, key } = await tg.customer({ creditUsd: '1' });
  const res = await fetch(`${tg.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const raw = await res.text();
  assert.match(raw, /"error"/);
  assert.doesNotMatch(raw, /\[DONE\]/);
  const charge = (await ledger(tg, accountId)).find((e) => e.kind === 'charge')!;
  assert.ok(charge, 'a cut stream must be charged');
  assert.equal(charge.detail.usage_estimated, true);
  assert.equal(charge.detail.completion_tokens, countTextTokens('alpha beta gamma'));
  assert.ok(charge.detail.prompt_tokens > 0);
  await verify(tg);
});

test('a stream cut after frames with no text in them (the role frame) charges nothing; one that ends well with no text is charged its prompt', async (t) => {
  const { up, tg } = await setup(t);
  const { accountId, key } = await tg.customer({ creditUsd: '1' });
  const frame = (delta: object, finish: string | null = null) =>
    `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'upstream-flash', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const roleFrame = frame({ role: 'assistant', content: '' });
  const stream = async () => {
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 200);
    return res.text();
  };
  // The upstream ends the body after the role frame (and an empty tool-less delta).
  up.behave({ rawBody: roleFrame + frame({}), contentType: 'text/event-stream' });
  assert.match(await stream(), /ended the stream early/);
  assert.equal((await ledger(tg, accountId)).filter((e) => e.kind === 'charge').length, 0);
  assert.equal((await account(tg, accountId)).balance_usd, '1.00');
  // The same frames, then a finish and [DONE], and no usage: the prompt was read.
  up.behave({ rawBody: roleFrame + frame({}, 'stop') + 'data: [DONE]\n\n', contentType: 'text/event-stream' });
  assert.match(await stream(), /\[DONE\]/);
  const charges = (await ledger(tg, accountId)).filter((e) => e.kind === 'charge');
  assert.equal(charges.length, 1);
  assert.equal(charges[0]!.detail.usage_estimated, true);
  assert.equal(charges[0]!.detail.completion_tokens, 0);
  assert.ok(charges[0]!.detail.prompt_tokens > 0);
  await verify(tg);
});

test('a long stream cut after ~1 MB is charged for every word it sent (kept as text, not frames)', async (t) => {
  // An upstream that streams 6,000 one-word chunks in batches, then drops the connection.
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < 6_000; i += 100) {
        let batch = '';
        for (let j = i; j < i + 100; j++) {
          batch += `data: ${JSON.stringify({ id: 'chatcmpl-long', object: 'chat.completion.chunk', created: 1, model: 'upstream-flash', choices: [{ index: 0, delta: { content: `${j ? ' ' : ''}w${j}` }, finish_reason: null }] })}\n\n`;
        }
        res.write(batch);
        await new Promise((r) => setImmediate(r));
      }
      res.socket?.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const tg = await startTestGateway({ upstream: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` });
  t.after(async () => {
    await tg.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const { accountId, key } = await tg.customer({ creditUsd: '1' });
  const res = await fetch(`${tg.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, max_tokens: 20_000, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const raw = await res.text();
  assert.ok(raw.length > 800_000, `a long stream (${raw.length} bytes): ${raw.slice(0, 300)}`);
  assert.doesNotMatch(raw, /\[DONE\]/);
  // What the client received, counted the same way: the text of every content delta.
  let sent = '';
  for (const line of raw.split('\n')) {
    if (!line.startsWith('data: {"id"')) continue;
    sent += JSON.parse(line.slice(6)).choices[0]?.delta?.content ?? '';
  }
  assert.ok(sent.startsWith('w0 w1 ') && sent.endsWith(' w5999'), 'all 6,000 words arrived');
  await tg.gw.rt.journal.flush();
  const charge = (await ledger(tg, accountId)).find((e) => e.kind === 'charge')!;
  assert.equal(charge.detail.usage_estimated, true);
  assert.equal(charge.detail.completion_tokens, countTextTokens(sent));
  await verify(tg);
});

test('a stream the client abandons midway is charged for what was generated', async (t) => {
  const { up, tg } = await setup(t);
  up.behave({ text: 'one two three four five six seven eight nine ten', chunkDelayMs: 100 });
  const { accountId, key } = await tg.customer({ creditUsd: '1' });
  const ac = new AbortController();
  const res = await fetch(`${tg.url}/v1/chat/completions`, {
    method: 'POST',
    signal: ac.signal,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const reader = res.body!.getReader();
  let seen = '';
  while (!seen.includes('three')) seen += new TextDecoder().decode((await reader.read()).value);
  ac.abort();
  await up.waitForAbort();
  await new Promise((r) => setTimeout(r, 100));
  const charge = (await ledger(tg, accountId)).find((e) => e.kind === 'charge')!;
  assert.ok(charge, 'an abandoned stream must be charged');
  assert.equal(charge.detail.usage_estimated, true);
  assert.ok(charge.detail.completion_tokens >= 3 && charge.detail.completion_tokens <= 5, `completion ${charge.detail.completion_tokens}`);
  assert.equal((await account(tg, accountId)).reserved_usd, '0.00');
  await verify(tg);
});

test('usage above the reservation is charged in full and the overrun recorded', async (t) => {
  const { up, tg } = await setup(t);
  const { accountId, key } = await tg.customer({ creditUsd: '0.0001' });
  // The upstream ignores max_tokens: 10 asked, 5,000 generated.
  up.behave({ promptTokens: 10, completionTokens: 5_000 });
  const res = await fetch(`${tg.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'deepseek-v4-pro', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 200);
  await res.text();
  const cost = 10n * 600_000n + 5_000n * 1_200_000n;
  const a = await account(tg, accountId);
  assert.equal(usdToPico(a.balance_usd), usdToPico('0.0001') - cost);
  assert.ok(usdToPico(a.balance_usd) < 0n);
  const charge = (await ledger(tg, accountId)).find((e) => e.kind === 'charge')!;
  assert.equal(charge.amount_usd, picoToUsd(-cost));
  assert.ok(charge.detail.overrun_usd);
  await verify(tg);
  // With a negative balance the next request is refused.
  const next = await fetch(`${tg.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'deepseek-v4-pro', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(next.status, 402);
});

test('n choices reserve n times the output cap: a balance that covers one choice is not overdrawn by fifty', async (t) => {
  const { up, tg } = await setup(t);
  // One choice of 100 tokens at $1.20/M costs at most $0.00012 (+ input); fifty, $0.006.
  const { accountId, key } = await tg.customer({ creditUsd: '0.001' });
  const chat = (n: number) =>
    fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'deepseek-v4-pro', n, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }),
    });
  // Every choice writes its full 100 tokens.
  up.behave({ promptTokens: 10, completionTokens: 5_000 });
  const before = up.requests.length;
  const refused = await chat(50);
  assert.equal(refused.status, 402);
  const err = ((await refused.json()) as any).error;
  assert.equal(err.code, 'insufficient_funds');
  assert.match(err.message, /up to 5000 output tokens/);
  assert.equal(up.requests.length, before, 'the upstream was not called');
  // An n no balance could cover is the same 402, not an overflow.
  const absurd = await fetch(`${tg.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: '{"model":"deepseek-v4-pro","n":1e305,"messages":[{"role":"user","content":"hi"}]}',
  });
  assert.equal(absurd.status, 402);
  assert.equal(((await absurd.json()) as any).error.code, 'insufficient_funds');
  // Five choices fit: reserved and charged within the balance.
  up.behave({ promptTokens: 10, completionTokens: 500 });
  const ok = await chat(5);
  assert.equal(ok.status, 200);
  await ok.text();
  const a = await account(tg, accountId);
  assert.equal(usdToPico(a.balance_usd), usdToPico('0.001') - (10n * 600_000n + 500n * 1_200_000n));
  assert.ok(usdToPico(a.balance_usd) >= 0n);
  await verify(tg);
});

test('credits, refunds and adjustments move the balance and are all in the ledger', async (t) => {
  const { tg } = await setup(t);
  const { accountId } = await tg.customer({ creditUsd: '0' });
  const c = await tg.admin('POST', `/accounts/${accountId}/credits`, { amount_usd: '12.3456789012345', note: 'wire transfer' });
  assert.equal(c.status, 400, 'more than 12 decimals is refused');
  const c2 = await tg.admin('POST', `/accounts/${accountId}/credits`, { amount_usd: '12.345678901', note: 'wire transfer' });
  assert.equal(c2.status, 201);
  assert.equal(c2.body.balance_usd, '12.345678901');
  assert.equal((await tg.admin('POST', `/accounts/${accountId}/credits`, { amount_usd: '-1' })).status, 400);
  assert.equal((await tg.admin('POST', `/accounts/${accountId}/credits`, { amount_usd: 0.1 })).status, 201);
  // A JSON number is taken exactly or refused: 1.23456789e-7 was rounded to 0.000000123457,
  // and 1234567.123456789012 (a double holds 1234567.123456789) credited short.
  for (const inexact of [1.23456789e-7, 1234567.123456789012]) {
    const r = await tg.admin('POST', `/accounts/${accountId}/credits`, { amount_usd: inexact });
    assert.equal(r.status, 400, `${inexact} is refused`);
    assert.equal(r.body.error.param, 'amount_usd');
  }
  const adj = await tg.admin('POST', `/accounts/${accountId}/adjustments`, { amount_usd: '-0.445678901', reason: 'goodwill correction' });
  assert.equal(adj.status, 201);
  assert.equal(adj.body.balance_usd, '12.00');
  assert.equal((await tg.admin('POST', `/accounts/${accountId}/adjustments`, { amount_usd: '1' })).status, 400, 'a reason is required');
  const ref = await tg.admin('POST', `/accounts/${accountId}/adjustments`, { kind: 'refund', amount_usd: '3', reason: 'outage' });
  assert.equal(ref.body.balance_usd, '15.00');
  const kinds = (await ledger(tg, accountId)).map((e) => e.kind).sort();
  assert.deepEqual(kinds, ['adjustment', 'credit', 'credit', 'refund']);
  const a = await account(tg, accountId);
  assert.deepEqual([a.balance_usd, a.reserved_usd, a.available_usd], ['15.00', '0.00', '15.00']);
  await verify(tg);
});

test('no entry can take a balance past what its 64-bit column holds, one at a time or concurrently', async (t) => {
  const { tg } = await setup(t);
  const { accountId } = await tg.customer({ creditUsd: '0' });
  const credit = (usd: string) => tg.admin('POST', `/accounts/${accountId}/credits`, { amount_usd: usd });
  const adjust = (usd: string) => tg.admin('POST', `/accounts/${accountId}/adjustments`, { amount_usd: usd, reason: 'range test' });
  assert.equal((await credit('9000000')).status, 201);
  // $9M + $1M is past $9,223,372.036854775807: refused, naming the field and the limit.
  const over = await credit('1000000');
  assert.equal(over.status, 400);
  assert.equal(over.body.error.param, 'amount_usd');
  assert.match(over.body.error.message, /10000000\.00 USD, beyond the ±9223372\.036854775807 USD/);
  // Up to the very last picodollar is fine.
  assert.equal((await credit('223372.036854775807')).status, 201);
  assert.equal((await credit('0.000000000001')).status, 400);
  assert.equal((await account(tg, accountId)).balance_usd, '9223372.036854775807');
  // The same bound below zero.
  assert.equal((await adjust('-9223372.036854775807')).status, 201);
  assert.equal((await adjust('-9223372.036854775807')).status, 201);
  assert.equal((await adjust('-0.000000000001')).status, 400);
  assert.equal((await account(tg, accountId)).balance_usd, '-9223372.036854775807');
  await verify(tg);

  // Concurrent credits, posted in one turn of the event loop: each passes the in-memory
  // check before any has landed, so only the store's own check can stop the overflow.
  // Exactly two of five $4M credits fit.
  const other = await tg.customer({ creditUsd: '0' });
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => tg.gw.rt.billing.post(other.accountId, 'credit', usdToPico('4000000'), null, 'admin')));
  assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected']);
  for (const r of results) if (r.status === 'rejected') assert.match(String(r.reason?.message), /beyond the ±9223372\.036854775807 USD/);
  assert.equal((await account(tg, other.accountId)).balance_usd, '8000000.00');
  assert.equal((await ledger(tg, other.accountId)).length, 2, 'a refused entry leaves nothing in the ledger');
  await verify(tg);
});

test('a price change applies to requests admitted after it; each request records its prices', async (t) => {
  const { up, tg } = await setup(t);
  up.behave({ promptTokens: 100, completionTokens: 10 });
  const { accountId, key } = await tg.customer({ creditUsd: '1' });
  const call = async () => {
    const r = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }),
    });
    return ((await r.json()) as any).usage.cost as string;
  };
  assert.equal(await call(), picoToUsd(100n * 160_000n + 10n * 300_000n));
  const g = await tg.admin('GET', '/models/deepseek-v4-flash/pricing');
  assert.deepEqual(g.body, { model: 'deepseek-v4-flash', unit: 'USD per 1M tokens', input: '0.16', cached_input: '0.004', output: '0.3', cache_write: '0.16' });
  const bad = await tg.admin('PUT', '/models/deepseek-v4-flash/pricing', { input: '0.1234567', output: '1' });
  assert.equal(bad.status, 400, 'prices have at most 6 decimals');
  const put = await tg.admin('PUT', '/models/deepseek-v4-flash/pricing', { input: '1', cached_input: '0.5', output: '2' });
  assert.equal(put.status, 200);
  assert.equal(await call(), picoToUsd(100n * 1_000_000n + 10n * 2_000_000n));
  const reqs = await tg.admin('GET', `/requests?account_id=${accountId}`);
  assert.equal(reqs.body.data.length, 2);
  const usage = await tg.admin('GET', `/accounts/${accountId}/usage?group_by=model`);
  assert.equal(usage.body.data.length, 1);
  assert.equal(usage.body.data[0].model, 'deepseek-v4-flash');
  assert.equal(usage.body.data[0].requests, 2);
  assert.equal(usage.body.data[0].prompt_tokens, 200);
  assert.equal(usage.body.data[0].cost_usd, picoToUsd(100n * 160_000n + 10n * 300_000n + 100n * 1_000_000n + 10n * 2_000_000n));
  const byDay = await tg.admin('GET', `/accounts/${accountId}/usage?group_by=day`);
  assert.equal(byDay.body.data.length, 1, 'both requests in one day');
  assert.equal(byDay.body.data[0].day, new Date().toISOString().slice(0, 10));
  assert.equal(byDay.body.data[0].requests, 2);
  const byKey = await tg.admin('GET', `/accounts/${accountId}/usage?group_by=key`);
  assert.equal(byKey.body.data.length, 1);
});
