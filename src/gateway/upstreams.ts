import { ClientPool } from '../http1/client-pool.ts';
import type { ProviderConfig } from '../config/schema.ts';
import type { ProviderAdapter } from '../providers/types.ts';
import { adapterFor } from '../providers/registry.ts';
import { CircuitBreaker } from './circuit-breaker.ts';

// One keep-alive connection pool per upstream provider, shared by every request.

export interface Upstream {
  readonly id: string;
  readonly config: ProviderConfig;
  readonly adapter: ProviderAdapter;
  readonly pool: ClientPool;
  /** base_url's path without a trailing slash ("/v1"), prefixed to adapter paths. */
  readonly basePath: string;
  readonly breaker: CircuitBreaker;
}

export function createUpstream(config: ProviderConfig): Upstream {
  const url = new URL(config.base_url);
  const pool = new ClientPool(url.origin, {
    connections: 512,
    keepAliveTimeoutMs: 30_000,
    // The time to headers is enforced per attempt in failover.ts; the pool's own
    // silence timer is the body timeout and a backstop behind it.
    timeoutMs: config.timeout_ms,
    connectTimeoutMs: Math.min(config.timeout_ms, 10_000),
  });
  return {
    id: config.id,
    config,
    adapter: adapterFor(config.kind),
    pool,
    basePath: url.pathname.replace(/\/+$/, ''),
    breaker: new CircuitBreaker(config.breaker.failures, config.breaker.cooldown_ms),
  };
}
