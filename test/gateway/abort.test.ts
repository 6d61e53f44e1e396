import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { sleep } from '../helpers/http.ts';

// A client that goes away takes the upstream call with it: the upstream sees its
// connection closed, so nobody keeps paying for tokens no one will read.

describe('client aborts reach the upstream', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  let accountId: string;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ upstream: up.baseUrl });
    ({ key, accountId } = await tg.customer());
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  const start = (body: Record<string, unknown>, signal: AbortSignal) =>
    fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'long story' }], ...body }),
      signal,
    });

  const record = async (id: string) => {
    for (let i = 0; i < 50; i++) {
      const r = await tg.admin('GET', `/requests?account_id=${accountId}`);
      const rec = r.body.data.find((x: any) => x.id === id);
      if (rec) return rec;
      await sleep(20);
    }
    throw new Error(`no request record ${id}`);
  };

  test('a stream aborted mid-way closes the upstream connection', async () => {
    up.behave({ text: Array.from({ length: 40 }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 100 });
    const from = up.requests.length;
    const ac = new AbortController();
    const res = await start({ stream: true }, ac.signal);
    assert.equal(res.status, 200);
    const id = res.headers.get('x-request-id')!;
    const reader = res.body!.getReader();
    let got = '';
    while (!got.includes('"content":"w0"')) {
      const { value, done } = await reader.read();
      assert.ok(!done);
      got += new TextDecoder().decode(value);
    }
    const t0 = performance.now();
    ac.abort();
    const aborted = await up.waitForAbort(3000, from);
    assert.equal(aborted, up.requests[from]);
    assert.equal(aborted.body.stream, true);
    assert.ok(performance.now() - t0 < 2000, 'the upstream saw the close promptly');
    const rec = await record(id);
    assert.equal(rec.stream, true);
    assert.equal(rec.error_code, 'client_closed');
  });

  /** Sends a non-streaming request, aborts it `waitMs` after it reached the upstream; returns its record. */
  const abortNonStreaming = async (waitMs: number) => {
    const from = up.requests.length;
    const ac = new AbortController();
    const pending = start({}, ac.signal).catch((err: unknown) => err);
    for (let i = 0; i < 100 && up.requests.length === from; i++) await sleep(10);
    assert.equal(up.requests.length, from + 1, 'the request reached the upstream');
    await sleep(waitMs);
    const t0 = performance.now();
    ac.abort();
    assert.equal(((await pending) as Error).name, 'AbortError');
    const aborted = await up.waitForAbort(2000, from);
    assert.equal(aborted, up.requests[from]);
    assert.ok(performance.now() - t0 < 2000, 'the upstream saw the close promptly');
    await sleep(100);
    const r = await tg.admin('GET', `/requests?account_id=${accountId}&limit=1`);
    return r.body.data[0];
  };

  test('a non-streaming request aborted while the upstream delays closes the upstream connection', async () => {
    up.behave({ delayMs: 3000 });
    const rec = await abortNonStreaming(0);
    // The record says the client went away (and it was not charged as a success).
    assert.equal(rec.stream, false);
    assert.equal(rec.error_code, 'client_closed');
    assert.notEqual(rec.status, 200);
  });

  test('a non-streaming request aborted while the upstream sends its body is recorded as client_closed and closes the upstream', async () => {
    up.behave({ bodyHalfDelayMs: 3000 });
    // By 150 ms the upstream has answered with its headers and half its body.
    const rec = await abortNonStreaming(150);
    assert.equal(rec.stream, false);
    assert.equal(rec.error_code, 'client_closed');
    assert.equal(rec.status, 499);
  });

  test('the gateway keeps serving after aborts', async () => {
    up.behave({ text: 'fine' });
    const res = await start({}, new AbortController().signal);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as any).choices[0].message.content, 'fine');
  });
});
