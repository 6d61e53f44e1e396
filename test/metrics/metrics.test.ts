import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { usdToPico } from '../../src/billing/money.ts';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { defaultConfig, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { post } from '../helpers/http.ts';

// GET /metrics as Prometheus scrapes it: who may read it, that it is valid text format,
// and that its totals agree with what the requests themselves reported.

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

/** Prometheus' text format: `name{labels} value` lines, each label value a quoted string. */
const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/;

/** The value of the sample `name{labels}` (labels as written, in order), or undefined. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('GET /metrics', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ config: { ...defaultConfig(up.baseUrl), metrics_token: METRICS_TOKEN } });
    ({ key } = await tg.customer({ creditUsd: '10' }));
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  const scrape = async (token: string | null) => {
    const res = await fetch(`${tg.url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };

  test('needs the metrics token or the admin token; a customer key or nothing is a 401', async () => {
    for (const token of [null, key, 'x'.repeat(40)]) {
      const res = await scrape(token);
      assert.equal(res.status, 401);
      assert.equal(JSON.parse(res.text).error.code, 'invalid_admin_token');
    }
    for (const token of [METRICS_TOKEN, tg.adminToken]) {
      const res = await scrape(token);
      assert.equal(res.status, 200);
      assert.match(res.type ?? '', /^text\/plain; version=0\.0\.4/);
    }
  });

  test('totals agree with the requests: counts, tokens, cost, latency; unknown models add no series', async () => {
    const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
    let prompt = 0;
    let completion = 0;
    let cost = 0n;
    for (let i = 0; i < 3; i++) {
      const { data, response } = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: `hi ${i}` }] }).withResponse();
      prompt += data.usage!.prompt_tokens;
      completion += data.usage!.completion_tokens;
      cost += usdToPico(response.headers.get('x-tollgate-cost')!);
    }
    const stream = await client.chat.completions.create({ model: 'deepseek-v4-flash', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    for await (const c of stream) {
      if (c.usage) {
        prompt += c.usage.prompt_tokens;
        completion += c.usage.completion_tokens;
        cost += usdToPico((c.usage as any).cost);
      }
    }
    // A model no one configured: counted, but under model="", not under the client's name.
    const unknown = await post(`${tg.url}/v1/chat/completions`, { model: 'made-up-model-4711', messages: [{ role: 'user', content: 'hi' }] }, { key });
    assert.equal(unknown.status, 404);
    // A configured model refused before it was resolved (a chat model on embeddings): named.
    const wrong = await post(`${tg.url}/v1/embeddings`, { model: 'deepseek-v4-flash', input: 'hi' }, { key });
    assert.equal(wrong.status, 400);

    const { text } = await scrape(METRICS_TOKEN);
    for (const line of text.split('\n')) if (line && !line.startsWith('#')) assert.match(line, SAMPLE);
    assert.ok(!text.includes('made-up-model-4711'));
    const ok = 'endpoint="chat.completions",model="deepseek-v4-flash",provider="fake",status="200"';
    assert.equal(sample(text, 'tollgate_requests_total', ok), 4);
    assert.equal(sample(text, 'tollgate_requests_total', 'endpoint="chat.completions",model="",provider="",status="404"'), 1);
    assert.equal(sample(text, 'tollgate_requests_total', 'endpoint="embeddings",model="deepseek-v4-flash",provider="",status="400"'), 1);
    assert.equal(sample(text, 'tollgate_prompt_tokens_total', ok), prompt);
    assert.equal(sample(text, 'tollgate_completion_tokens_total', ok), completion);
    assert.equal(usdToPico(text.split('\n').find((l) => l.startsWith(`tollgate_charged_usd_total{${ok}} `))!.split(' ')[1]!), cost);
    assert.equal(sample(text, 'tollgate_request_duration_seconds_count', 'endpoint="chat.completions",model="deepseek-v4-flash",stream="false"'), 3);
    assert.equal(sample(text, 'tollgate_request_duration_seconds_count', 'endpoint="chat.completions",model="deepseek-v4-flash",stream="true"'), 1);
    assert.equal(sample(text, 'tollgate_request_duration_seconds_bucket', 'endpoint="chat.completions",model="deepseek-v4-flash",stream="false",le="+Inf"'), 3);
    assert.equal(sample(text, 'tollgate_time_to_first_byte_seconds_count', 'endpoint="chat.completions",model="deepseek-v4-flash",stream="true"'), 1);
    // State at scrape time, and the process.
    assert.equal(sample(text, 'tollgate_upstream_available', 'provider="fake"'), 1);
    assert.match(text, /^tollgate_requests_in_flight 0$/m);
    assert.match(text, /^tollgate_reservations_open 0$/m);
    assert.match(text, /^process_cpu_user_seconds_total \d/m);
    assert.match(text, /^nodejs_eventloop_lag_seconds \d/m);
  });
});
