import type { Config, ModelConfig } from '../config/schema.ts';
import { createUpstream, type Upstream } from './upstreams.ts';

// The runtime view of providers and models, built once from the config at start.

export interface Route {
  upstream: Upstream;
  model: string;
  weight: number;
  priority: number;
}

export interface ModelEntry {
  id: string;
  ownedBy: string;
  contextWindow: number | undefined;
  maxOutputTokens: number | undefined;
  type: 'chat' | 'embedding';
  routes: Route[];
  config: ModelConfig;
  createdAt: number;
}

export class Catalog {
  readonly upstreams = new Map<string, Upstream>();
  readonly models = new Map<string, ModelEntry>();

  constructor(config: Config) {
    for (const p of config.providers) this.upstreams.set(p.id, createUpstream(p));
    const created = Math.floor(Date.now() / 1000);
    for (const m of config.models) {
      const routes = m.upstreams.map((u) => ({ upstream: this.upstreams.get(u.provider)!, model: u.model, weight: u.weight, priority: u.priority }));
      this.models.set(m.id, {
        id: m.id,
        ownedBy: m.owned_by ?? m.upstreams[0]!.provider,
        contextWindow: m.context_window,
        maxOutputTokens: m.max_output_tokens,
        type: m.type,
        routes,
        config: m,
        createdAt: created,
      });
    }
  }

  /** Accepts bare ids and `owner/model` ids (seed 003 style) for the same entry. */
  find(id: string): ModelEntry | undefined {
    const direct = this.models.get(id);
    if (direct) return direct;
    const slash = id.indexOf('/');
    if (slash > 0) {
      const m = this.models.get(id.slice(slash + 1));
      if (m && m.ownedBy === id.slice(0, slash)) return m;
    }
    return undefined;
  }

  async close(): Promise<void> {
    await Promise.all([...this.upstreams.values()].map((u) => u.pool.close().catch(() => u.pool.destroy())));
  }
}
