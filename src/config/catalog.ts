// The built-in catalog: what `tollgate serve` offers with no config file, for each
// provider whose API key is in the environment. Prices are the providers' published
// list prices in USD per 1M tokens at the time of writing; operators who resell set
// their own in a config file (see tollgate.example.yaml).

interface CatalogProvider {
  id: string;
  kind: 'openai' | 'anthropic' | 'gemini';
  env: string;
  base_url: string;
  owned_by: string;
  models: Array<{
    id: string;
    context_window: number;
    max_output_tokens?: number;
    type?: 'chat' | 'embedding';
    pricing: { input: string; cached_input?: string; cache_write?: string; output: string };
  }>;
}

export const CATALOG: CatalogProvider[] = [
  {
    id: 'openai',
    kind: 'openai',
    env: 'OPENAI_API_KEY',
    base_url: 'https://api.openai.com/v1',
    owned_by: 'openai',
    models: [
      { id: 'gpt-5', context_window: 400_000, max_output_tokens: 128_000, pricing: { input: '1.25', cached_input: '0.125', output: '10' } },
      { id: 'gpt-5-mini', context_window: 400_000, max_output_tokens: 128_000, pricing: { input: '0.25', cached_input: '0.025', output: '2' } },
      { id: 'gpt-5-nano', context_window: 400_000, max_output_tokens: 128_000, pricing: { input: '0.05', cached_input: '0.005', output: '0.4' } },
      { id: 'gpt-4.1', context_window: 1_047_576, max_output_tokens: 32_768, pricing: { input: '2', cached_input: '0.5', output: '8' } },
      { id: 'gpt-4.1-mini', context_window: 1_047_576, max_output_tokens: 32_768, pricing: { input: '0.4', cached_input: '0.1', output: '1.6' } },
      { id: 'gpt-4o-mini', context_window: 128_000, max_output_tokens: 16_384, pricing: { input: '0.15', cached_input: '0.075', output: '0.6' } },
      { id: 'text-embedding-3-small', type: 'embedding', context_window: 8_191, pricing: { input: '0.02', output: '0' } },
      { id: 'text-embedding-3-large', type: 'embedding', context_window: 8_191, pricing: { input: '0.13', output: '0' } },
    ],
  },
  {
    id: 'deepseek',
    kind: 'openai',
    env: 'DEEPSEEK_API_KEY',
    base_url: 'https://api.deepseek.com/v1',
    owned_by: 'deepseek',
    models: [
      { id: 'deepseek-chat', context_window: 128_000, max_output_tokens: 8_192, pricing: { input: '0.28', cached_input: '0.028', output: '0.42' } },
      { id: 'deepseek-reasoner', context_window: 128_000, max_output_tokens: 65_536, pricing: { input: '0.28', cached_input: '0.028', output: '0.42' } },
    ],
  },
  {
    id: 'moonshot',
    kind: 'openai',
    env: 'MOONSHOT_API_KEY',
    base_url: 'https://api.moonshot.ai/v1',
    owned_by: 'moonshot',
    models: [
      { id: 'kimi-k2-0905-preview', context_window: 262_144, pricing: { input: '0.6', cached_input: '0.15', output: '2.5' } },
      { id: 'kimi-k2-turbo-preview', context_window: 262_144, pricing: { input: '1.15', cached_input: '0.15', output: '8' } },
      { id: 'kimi-k2-thinking', context_window: 262_144, pricing: { input: '0.6', cached_input: '0.15', output: '2.5' } },
    ],
  },
  {
    id: 'anthropic',
    kind: 'anthropic',
    env: 'ANTHROPIC_API_KEY',
    base_url: 'https://api.anthropic.com/v1',
    owned_by: 'anthropic',
    models: [
      { id: 'claude-opus-4-5', context_window: 200_000, max_output_tokens: 64_000, pricing: { input: '5', cached_input: '0.5', cache_write: '6.25', output: '25' } },
      { id: 'claude-sonnet-4-5', context_window: 200_000, max_output_tokens: 64_000, pricing: { input: '3', cached_input: '0.3', cache_write: '3.75', output: '15' } },
      { id: 'claude-haiku-4-5', context_window: 200_000, max_output_tokens: 64_000, pricing: { input: '1', cached_input: '0.1', cache_write: '1.25', output: '5' } },
    ],
  },
  {
    id: 'gemini',
    kind: 'gemini',
    env: 'GEMINI_API_KEY',
    base_url: 'https://generativelanguage.googleapis.com/v1beta',
    owned_by: 'google',
    models: [
      // Gemini Pro prices are for prompts up to 200K tokens; longer prompts cost more upstream.
      { id: 'gemini-2.5-pro', context_window: 1_048_576, max_output_tokens: 65_536, pricing: { input: '1.25', cached_input: '0.125', output: '10' } },
      { id: 'gemini-2.5-flash', context_window: 1_048_576, max_output_tokens: 65_536, pricing: { input: '0.3', cached_input: '0.03', output: '2.5' } },
      { id: 'gemini-2.5-flash-lite', context_window: 1_048_576, max_output_tokens: 65_536, pricing: { input: '0.1', cached_input: '0.01', output: '0.4' } },
    ],
  },
];

export function catalogFromEnv(env: NodeJS.ProcessEnv): { providers: unknown[]; models: unknown[] } {
  const providers: unknown[] = [];
  const models: unknown[] = [];
  for (const p of CATALOG) {
    const key = env[p.env];
    if (!key) continue;
    providers.push({ id: p.id, kind: p.kind, base_url: p.base_url, api_key: key, ...(p.id === 'openai' ? { max_tokens_field: 'max_completion_tokens' } : {}) });
    for (const m of p.models) {
      models.push({
        id: m.id,
        owned_by: p.owned_by,
        context_window: m.context_window,
        ...(m.max_output_tokens ? { max_output_tokens: m.max_output_tokens } : {}),
        type: m.type ?? 'chat',
        upstreams: [{ provider: p.id, model: m.id }],
        pricing: m.pricing,
      });
    }
  }
  return { providers, models };
}
