import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startFakeAnthropic, type AnthropicScenario, type FakeAnthropic } from '../../helpers/fake-anthropic.ts';

// The translation tests trust test/helpers/fake-anthropic.ts to speak the real Messages
// API. Here the official SDK is the judge: its requests must pass the fake's checks (a
// fake stricter than the API would fail valid translations), its stream reader must
// accept every SSE fixture event by event, and its errors must come out typed.

const KEY = 'sk-ant-fake-sdk';

describe('the official Anthropic SDK against the fake Anthropic upstream', () => {
  let fake: FakeAnthropic;
  let client: Anthropic;

  before(async () => {
    fake = await startFakeAnthropic({ apiKey: KEY, eventDelayMs: 0 });
    client = new Anthropic({ apiKey: KEY, baseURL: `http://127.0.0.1:${fake.port}`, maxRetries: 0 });
  });
  after(() => fake.close());

  const ask = (scenario: AnthropicScenario) => ({
    model: 'claude-fixture',
    max_tokens: 2048,
    messages: [{ role: 'user' as const, content: `scenario:${scenario} go` }],
  });

  test('its requests pass the fake\'s checks, with the headers the API requires', async () => {
    const msg = await client.messages.create(ask('simple'));
    assert.deepEqual(msg.content, [{ type: 'text', text: 'Hello! How can I help you today?' }]);
    assert.equal(msg.model, 'claude-fixture', 'the fake answers with the model asked for');
    const seen = fake.requests.at(-1)!;
    assert.equal(seen.path, '/v1/messages');
    // The SDK sends its key as a bearer token; the gateway's adapter uses x-api-key.
    assert.equal(seen.headers.authorization, `Bearer ${KEY}`);
    assert.ok(seen.headers['anthropic-version'], 'anthropic-version sent');
  });

  // Each scenario with both fixtures: the stream, read by the SDK, adds up to the same
  // message as the non-streaming answer (cache-usage's stream was captured with a
  // shorter text, so there only the blocks' kinds, stop reason and usage must agree).
  for (const scenario of ['simple', 'cache-usage', 'thinking', 'json-schema'] as const) {
    test(`the ${scenario} stream adds up, in the SDK's reader, to the ${scenario} answer`, async () => {
      const whole = await client.messages.create(ask(scenario));
      const events: string[] = [];
      const stream = client.messages.stream(ask(scenario));
      stream.on('streamEvent', (e) => events.push(e.type));
      const streamed = await stream.finalMessage();
      assert.equal(events[0], 'message_start');
      assert.equal(events.at(-1), 'message_stop');
      assert.ok(events.includes('content_block_delta'));
      if (scenario === 'cache-usage') assert.deepEqual(streamed.content.map((b) => b.type), whole.content.map((b) => b.type));
      else assert.deepEqual(streamed.content, whole.content);
      assert.equal(streamed.stop_reason, whole.stop_reason);
      assert.equal(streamed.usage.output_tokens, whole.usage.output_tokens);
      assert.equal(streamed.usage.input_tokens, whole.usage.input_tokens);
      assert.equal(streamed.usage.cache_read_input_tokens ?? 0, whole.usage.cache_read_input_tokens ?? 0);
      assert.equal(streamed.usage.cache_creation_input_tokens ?? 0, whole.usage.cache_creation_input_tokens ?? 0);
    });
  }

  test('the parallel tool-use stream gives the SDK two complete tool_use blocks', async () => {
    const msg = await client.messages.stream({ ...ask('tools'), tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: {} } }] }).finalMessage();
    const uses = msg.content.filter((b) => b.type === 'tool_use');
    assert.equal(uses.length, 2);
    for (const u of uses) {
      assert.equal(u.name, 'get_weather');
      assert.match(u.id, /^toolu_/);
      assert.equal(typeof (u.input as { location?: unknown }).location, 'string');
    }
    assert.equal(msg.stop_reason, 'tool_use');
  });

  test('an error event in the middle of a stream is thrown by the SDK as an overloaded_error', async () => {
    const stream = client.messages.stream(ask('stream-error'));
    let text = '';
    stream.on('text', (t) => (text += t));
    await assert.rejects(stream.finalMessage(), (err: unknown) => {
      assert.ok(err instanceof Anthropic.APIError, `an APIError, got ${String(err)}`);
      assert.match(String((err as Error).message), /overloaded/i);
      return true;
    });
    assert.equal(text, 'Once upon', 'the text before the error was delivered');
  });

  for (const [scenario, status, type, cls] of [
    ['error-400', 400, 'invalid_request_error', Anthropic.BadRequestError],
    ['error-429', 429, 'rate_limit_error', Anthropic.RateLimitError],
    ['error-500', 500, 'api_error', Anthropic.InternalServerError],
    ['error-529', 529, 'overloaded_error', Anthropic.InternalServerError],
  ] as const) {
    test(`the ${scenario} fixture is a typed ${status} ${type} to the SDK`, async () => {
      await assert.rejects(client.messages.create(ask(scenario)), (err: unknown) => {
        assert.ok(err instanceof cls, `a ${cls.name}, got ${String(err)}`);
        const e = err as InstanceType<typeof Anthropic.APIError>;
        assert.equal(e.status, status);
        assert.equal((e.error as { error?: { type?: string } }).error?.type, type);
        return true;
      });
    });
  }

  test('a wrong key gets the 401 fixture as an AuthenticationError', async () => {
    const wrong = new Anthropic({ apiKey: 'sk-ant-wrong', baseURL: `http://127.0.0.1:${fake.port}`, maxRetries: 0 });
    await assert.rejects(wrong.messages.create(ask('simple')), (err: unknown) => {
      assert.ok(err instanceof Anthropic.AuthenticationError, `an AuthenticationError, got ${String(err)}`);
      assert.equal((err as InstanceType<typeof Anthropic.APIError>).status, 401);
      return true;
    });
  });
});
