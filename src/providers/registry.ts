import type { ProviderAdapter } from './types.ts';
import { openaiAdapter } from './openai/adapter.ts';
import { anthropicAdapter } from './anthropic/adapter.ts';
import { geminiAdapter } from './gemini/adapter.ts';

// Wire protocols by the `kind` a provider declares in the config.
const adapters = new Map<string, ProviderAdapter>([openaiAdapter, anthropicAdapter, geminiAdapter].map((a) => [a.kind, a]));

export function adapterFor(kind: string): ProviderAdapter {
  const a = adapters.get(kind);
  if (!a) throw new Error(`no adapter for provider kind "${kind}"`);
  return a;
}
