import OpenAI from 'openai';
import { startFakeAnthropic, type FakeAnthropic, type FakeAnthropicOptions } from './fake-anthropic.ts';
import { startFakeGemini, type FakeGemini, type FakeGeminiOptions } from './fake-gemini.ts';
import { startTestGateway, type TestGateway } from './gateway.ts';

// A gateway with one model served by a fake Anthropic or Gemini upstream, and the
// official OpenAI SDK pointed at it with a customer's key (no retries, so a test sees
// each answer as the gateway gave it).

export interface TranslatedGateway<U> {
  up: U;
  tg: TestGateway;
  client: OpenAI;
  close(): Promise<void>;
}

/** The public model id and the upstream model it maps to. */
interface ModelChoice {
  id?: string;
  model?: string;
}

async function withGateway<U extends { baseUrl: string; close(): Promise<void> }>(up: U, kind: 'anthropic' | 'gemini', apiKey: string, model: Required<ModelChoice>, pricing: Record<string, string>): Promise<TranslatedGateway<U>> {
  const tg = await startTestGateway({
    config: {
      providers: [{ id: kind, kind, base_url: up.baseUrl, api_key: apiKey }],
      models: [{ id: model.id, upstreams: [{ provider: kind, model: model.model }], pricing }],
    },
  });
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: (await tg.customer()).key, maxRetries: 0 });
  return {
    up,
    tg,
    client,
    async close() {
      await tg.close();
      await up.close();
    },
  };
}

/** Model `claude` (claude-sonnet-4-5) on a fake Anthropic upstream. */
export async function anthropicGateway(opts: FakeAnthropicOptions = {}, m: ModelChoice = {}): Promise<TranslatedGateway<FakeAnthropic>> {
  const up = await startFakeAnthropic({ scenario: 'simple', ...opts });
  return withGateway(up, 'anthropic', 'sk-ant-upstream-key', { id: m.id ?? 'claude', model: m.model ?? 'claude-sonnet-4-5-20250929' }, { input: '3', output: '15' });
}

/** Model `gemini-flash` (gemini-2.5-flash) on a fake Gemini upstream. */
export async function geminiGateway(opts: FakeGeminiOptions = {}, m: ModelChoice = {}): Promise<TranslatedGateway<FakeGemini>> {
  const up = await startFakeGemini({ scenario: 'simple', ...opts });
  return withGateway(up, 'gemini', 'gemini-upstream-key', { id: m.id ?? 'gemini-flash', model: m.model ?? 'gemini-2.5-flash' }, { input: '0.3', output: '2.5' });
}
