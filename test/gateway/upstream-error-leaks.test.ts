import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import pino from 'pino';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { assertNoLeaks, expectError, post, type RawResponse } from '../helpers/http.ts';

// The audit's findings, as regressions: an upstream that puts its own key and address
// into every member of its error (type, param, code, a Retry-After header, a bare-string
// error frame, an error beside choices, a masked echo of the key) must not get them to
// the client (body or headers), into the request log (GET /admin/v1/requests) or into
// our logs; the useful part of what it said still arrives.

const KEY = 'sk-UPSTREAM-SECRET-123';
/** How OpenAI echoes a wrong key: a head, a mask and the last characters. */
const MASKED = 'sk-UPSTR*************-123';

describe('what an upstream error says of its key and address reaches no one', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  let accountId: string;
  let forbidden: string[];
  const lines: string[] = [];
  /** Request id → the error_code its request-log record must have. */
  const expectedCodes = new Map<string, string>();

  before(async () => {
    up = await startFakeOpenAI();
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
        done();
      },
    });
    tg = await startTestGateway({
      logger: pino({ level: 'trace' }, sink),
      config: {
        // Every failure here is on purpose: the breaker must not pause the only upstream.
        providers: [{ id: 'fake', kind: 'openai', base_url: up.baseUrl, api_key: KEY, breaker: { failures: 1000, cooldown_ms: 1 } }],
        models: [
          { id: 'flash', upstreams: [{ provider: 'fake', model: 'upstream-flash' }], pricing: { input: '0.16', output: '0.30' } },
          { id: 'embed', type: 'embedding', upstreams: [{ provider: 'fake', model: 'text-embedding-3-small' }], pricing: { input: '0.02', output: '0' } },
        ],
      },
    });
    ({ key, accountId } = await tg.customer());
    // The key, its head and its tail (the fragments a masked echo shows), and the
    // upstream's address in every form.
    forbidden = [KEY, 'sk-UPSTR', 'UPSTREAM-SECRET', 'SECRET-123', '-123', up.baseUrl, '127.0.0.1', `:${up.port}`];
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  const chat = (stream: boolean) => post(`${tg.url}/v1/chat/completions`, { model: 'flash', stream, messages: [{ role: 'user', content: 'hi' }] }, { key });
  const embed = () => post(`${tg.url}/v1/embeddings`, { model: 'embed', input: 'x' }, { key });
  const nastyHost = () => `${up.baseUrl} ${KEY}`;
  const logged = (res: RawResponse, code: string) => expectedCodes.set(res.headers.get('x-request-id')!, code);
  /** An upstream stream of one content chunk, then `errorFrame`. */
  const streamThenError = (errorFrame: string) => {
    const chunk = JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'upstream-flash', choices: [{ index: 0, delta: { content: 'partial' }, finish_reason: null }] });
    up.behave({ contentType: 'text/event-stream', rawBody: `data: ${chunk}\n\ndata: ${errorFrame}\n\n` });
  };
  /** The client's frames: the content, then one scrubbed error event with our request id. */
  const expectStreamError = (res: RawResponse): { message: string } => {
    assert.equal(res.status, 200, res.text);
    assertNoLeaks(res, forbidden);
    const frames = res.text.split('\n\n').filter(Boolean).map((f) => JSON.parse(f.slice(6)));
    assert.equal(frames.length, 2, res.text);
    assert.equal(frames[0].choices[0].delta.content, 'partial');
    assert.deepEqual(Object.keys(frames[1].error).sort(), ['code', 'message', 'param', 'request_id', 'type']);
    assert.deepEqual([frames[1].error.type, frames[1].error.code, frames[1].error.param], ['api_error', 'upstream_error', null]);
    assert.equal(frames[1].error.request_id, res.headers.get('x-request-id'));
    logged(res, 'upstream_error');
    return frames[1].error;
  };

  test('1. an upstream 400 with the key and URL in type, param and code: the message arrives, they do not', async () => {
    up.behave({ status: 400, errorBody: { error: { message: 'm', type: nastyHost(), param: KEY, code: KEY } } });
    for (const stream of [false, true]) {
      const res = await chat(stream);
      const e = expectError(res, { status: 400, type: 'invalid_request_error', code: 'upstream_invalid_request', param: '[redacted]' }, forbidden);
      assert.equal(e.message, 'm');
      logged(res, 'upstream_invalid_request');
    }
    const res = await embed();
    expectError(res, { status: 400, type: 'invalid_request_error', code: 'upstream_invalid_request', param: '[redacted]' }, forbidden);
    logged(res, 'upstream_invalid_request');
  });

  test('1. a 422 in the {msg, code} shape, the key as its code', async () => {
    up.behave({ status: 422, errorBody: { msg: `model upstream-flash is not enabled for key ${KEY} at ${up.baseUrl}/chat/completions`, code: KEY } });
    for (const stream of [false, true]) {
      const res = await chat(stream);
      const e = expectError(res, { status: 422, type: 'invalid_request_error', code: 'upstream_invalid_request', param: null }, forbidden);
      assert.equal(e.message, 'model upstream-flash is not enabled for key [redacted] at [upstream]/chat/completions');
      logged(res, 'upstream_invalid_request');
    }
  });

  test('1. an error event mid-stream with the key in every member', async () => {
    streamThenError(JSON.stringify({ error: { message: `overloaded at 127.0.0.1:${up.port}`, type: KEY, param: KEY, code: KEY } }));
    const e = expectStreamError(await chat(true));
    assert.equal(e.message, 'overloaded at [upstream]');
  });

  test('2. an upstream 429 whose Retry-After holds the key: dropped for the default', async () => {
    up.behave({ status: 429, headers: { 'retry-after': `5 ${KEY}` }, errorBody: { error: { message: `Rate limit reached for key ${KEY}`, type: 'requests', param: null, code: 'rate_limit_exceeded' } } });
    for (const stream of [false, true]) {
      const res = await chat(stream);
      const e = expectError(res, { status: 429, type: 'rate_limit_error', code: 'upstream_rate_limited', param: null }, forbidden);
      assert.equal(e.message, 'The upstream provider is rate limiting: Rate limit reached for key [redacted]');
      assert.equal(res.headers.get('retry-after'), '1');
      logged(res, 'upstream_rate_limited');
    }
  });

  test('2. a Retry-After in seconds passes, an HTTP-date becomes seconds', async () => {
    up.behave({ status: 429, headers: { 'retry-after': '5' } });
    assert.equal((await chat(false)).headers.get('retry-after'), '5');
    up.behave({ status: 429, headers: { 'retry-after': new Date(Date.now() + 30_000).toUTCString() } });
    for (const stream of [false, true]) {
      const wait = Number((await chat(stream)).headers.get('retry-after'));
      assert.ok(wait >= 25 && wait <= 31, `retry-after ${wait}`);
    }
  });

  test('3. an error frame whose error is a bare string', async () => {
    streamThenError(JSON.stringify({ error: `${KEY} at 127.0.0.1:${up.port}` }));
    const e = expectStreamError(await chat(true));
    assert.equal(e.message, '[redacted] at [upstream]');
  });

  test('3. an error object beside choices', async () => {
    streamThenError(JSON.stringify({ error: { message: `quota gone for ${KEY}` }, choices: [] }));
    assert.equal(expectStreamError(await chat(true)).message, 'quota gone for [redacted]');
    streamThenError(JSON.stringify({ error: { message: `quota gone for ${KEY}` }, choices: [{ index: 0, delta: { content: '' }, finish_reason: 'error' }] }));
    assert.equal(expectStreamError(await chat(true)).message, 'quota gone for [redacted]');
  });

  test('7. an error frame in the {code, msg} shape', async () => {
    streamThenError(JSON.stringify({ code: 401, msg: `bad key ${KEY}` }));
    assert.equal(expectStreamError(await chat(true)).message, 'bad key [redacted]');
  });

  test('7. header values an upstream fills are not quoted into errors unless they are common ones', async () => {
    up.behave({ contentType: `application/x-${KEY}`, rawBody: '{}' });
    let res = await chat(true);
    let e = expectError(res, { status: 502, type: 'api_error', code: 'upstream_error', param: null }, forbidden);
    assert.match(e.message, /expected an event stream, got another content type/);
    logged(res, 'upstream_error');
    up.behave({ contentType: 'application/json', rawBody: '{}' });
    res = await chat(true);
    assert.match(expectError(res, { status: 502, type: 'api_error', code: 'upstream_error', param: null }, forbidden).message, /got "application\/json"/);
    logged(res, 'upstream_error');
    up.behave({ rawBody: '{}', headers: { 'content-encoding': `x ${KEY}` } });
    res = await chat(false);
    e = expectError(res, { status: 502, type: 'api_error', code: 'upstream_error', param: null }, forbidden);
    assert.match(e.message, /compressed as an unregistered or stacked coding/);
    logged(res, 'upstream_error');
  });

  test('3. a 200 answer (not streamed) with an error beside choices (or an embeddings answer with one) is an error, scrubbed and not charged', async () => {
    const before = await tg.admin('GET', `/accounts/${accountId}`);
    for (const choices of [undefined, [], [{ index: 0, message: { role: 'assistant', content: 'half' }, finish_reason: 'error' }]]) {
      const body = { id: 'c1', object: 'chat.completion', created: 1, model: 'upstream-flash', error: { message: `quota gone for ${KEY} at ${up.baseUrl}`, code: 502 }, ...(choices ? { choices } : {}), usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } };
      up.behave({ rawBody: JSON.stringify(body) });
      const res = await chat(false);
      const e = expectError(res, { status: 502, type: 'api_error', code: 'upstream_error', param: null }, forbidden);
      assert.equal(e.message, 'quota gone for [redacted] at [upstream]');
      logged(res, 'upstream_error');
    }
    // An embeddings answer too: it lost the upstream's words to a bare "no data".
    up.behave({ rawBody: JSON.stringify({ object: 'list', error: { message: `quota gone for ${KEY}` }, usage: { prompt_tokens: 3, total_tokens: 3 } }) });
    const res = await embed();
    assert.equal(expectError(res, { status: 502, type: 'api_error', code: 'upstream_error', param: null }, forbidden).message, 'quota gone for [redacted]');
    logged(res, 'upstream_error');
    await tg.gw.rt.journal.flush();
    const afterwards = await tg.admin('GET', `/accounts/${accountId}`);
    assert.equal(afterwards.body.balance_usd, before.body.balance_usd, 'nothing was charged');
  });

  test('5. a masked echo of the key loses its head and tail too, wherever it comes', async () => {
    const openai = `Incorrect API key provided: ${MASKED}. You can find your API key at https://platform.openai.com/account/api-keys.`;
    const scrubbed = 'Incorrect API key provided: [redacted]. You can find your API key at https://platform.openai.com/account/api-keys.';
    up.behave({ status: 400, errorBody: { error: { message: openai, type: 'invalid_request_error', param: MASKED, code: MASKED } } });
    for (const stream of [false, true]) {
      const res = await chat(stream);
      assert.equal(expectError(res, { status: 400, type: 'invalid_request_error', code: 'upstream_invalid_request', param: '[redacted]' }, forbidden).message, scrubbed);
      logged(res, 'upstream_invalid_request');
    }
    // The tail alone, where the key is quoted as "ending in".
    up.behave({ status: 500, errorBody: { error: { message: 'the key ending in -123 is disabled' } } });
    const res = await chat(false);
    assert.match(expectError(res, { status: 502, type: 'api_error', code: 'upstream_error', param: null }, forbidden).message, /the key ending in \[redacted\] is disabled/);
    logged(res, 'upstream_error');
    streamThenError(JSON.stringify({ error: { message: openai } }));
    assert.equal(expectStreamError(await chat(true)).message, scrubbed);
  });

  test('4. an upstream code that is a short identifier is kept; free text is not a code', async () => {
    up.behave({ status: 400, errorBody: { error: { message: 'temperature must be at most 2', type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } } });
    let res = await chat(false);
    expectError(res, { status: 400, type: 'invalid_request_error', code: 'invalid_value', param: 'temperature' }, forbidden);
    logged(res, 'invalid_value');
    up.behave({ status: 400, errorBody: { error: { message: 'no', type: 'a type with spaces', code: `quota exceeded, see ${'x'.repeat(80)}` } } });
    res = await chat(false);
    expectError(res, { status: 400, type: 'invalid_request_error', code: 'upstream_invalid_request' }, forbidden);
    logged(res, 'upstream_invalid_request');
  });

  test('6. the log line for rejected credentials names the request', async () => {
    for (const status of [401, 403]) {
      up.behave({ status, errorBody: { error: { message: `Incorrect API key provided: ${MASKED}`, type: KEY, code: KEY } } });
      const res = await chat(false);
      expectError(res, { status: 502, type: 'api_error', code: 'upstream_error', param: null }, forbidden);
      logged(res, 'upstream_error');
      const id = res.headers.get('x-request-id');
      const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'upstream rejected the configured credentials' && l.status === status);
      assert.ok(line, `a log line for HTTP ${status}`);
      assert.equal(line.request_id, id);
    }
  });

  test('what the official SDK shows of such errors: the useful part, none of the secrets', async () => {
    const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
    const ask = { model: 'flash', messages: [{ role: 'user' as const, content: 'hi' }] };
    up.behave({ status: 400, errorBody: { error: { message: `bad request for key ${MASKED}`, type: nastyHost(), param: KEY, code: KEY } } });
    const e = await client.chat.completions.create(ask).then(() => assert.fail('no error'), (err: unknown) => err);
    assert.ok(e instanceof OpenAI.BadRequestError, String(e));
    assert.deepEqual([e.message, e.type, e.code, e.param], ['400 bad request for key [redacted]', 'invalid_request_error', 'upstream_invalid_request', '[redacted]']);
    expectedCodes.set(e.headers!.get('x-request-id')!, 'upstream_invalid_request');
    streamThenError(JSON.stringify({ error: `${KEY} at 127.0.0.1:${up.port}` }));
    const seen: string[] = [];
    const err = await (async () => {
      for await (const c of await client.chat.completions.create({ ...ask, stream: true })) seen.push(c.choices[0]?.delta.content ?? '');
    })().then(() => assert.fail('no error'), (x: unknown) => x);
    assert.deepEqual(seen, ['partial']);
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.message, '[redacted] at [upstream]');
  });

  test('4. the request log (GET /admin/v1/requests) holds the safe codes and nothing of the upstream; nor do our logs', async () => {
    await tg.gw.rt.journal.flush();
    const list = await tg.admin('GET', `/requests?account_id=${accountId}&limit=1000`);
    assert.equal(list.status, 200);
    const text = JSON.stringify(list.body);
    for (const f of forbidden) assert.ok(!text.includes(f), `the request log leaks ${JSON.stringify(f)}: ${text}`);
    const codes = new Map<string, string>(list.body.data.map((r: { id: string; error_code: string }) => [r.id, r.error_code]));
    assert.ok(expectedCodes.size >= 15, `${expectedCodes.size} requests checked`);
    for (const [id, code] of expectedCodes) assert.equal(codes.get(id), code, `request ${id}`);
    // Our own logs: the upstream's address and key in no form (the gateway's own
    // listening address is 127.0.0.1 too, so that alone is allowed here).
    assert.match(lines.join('\n'), /upstream attempt failed/);
    for (const f of forbidden.filter((f) => f !== '127.0.0.1')) {
      const hit = lines.find((l) => l.includes(f));
      assert.equal(hit, undefined, `a log line leaks ${JSON.stringify(f)}: ${hit}`);
    }
  });
});
