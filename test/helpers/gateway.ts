import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { validateConfig } from '../../src/config/load.ts';
import { startGateway, type Gateway } from '../../src/gateway/start.ts';
import { startFakeOpenAI, type FakeOpenAI } from './fake-openai.ts';

// Starts a real gateway (in this process, on 127.0.0.1 port 0, with a fresh SQLite file)
// and talks to it only over HTTP, as a client and an operator would.

export interface TestGateway {
  gw: Gateway;
  url: string;
  adminToken: string;
  dir: string;
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }>;
  /** Creates an account (with a plan and credit if given) and a key for it. */
  customer(opts?: { plan?: string; creditUsd?: string; name?: string }): Promise<{ accountId: string; key: string; keyId: string }>;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  /** Raw config (validated like a config file); listen/storage/admin_token are filled in. */
  config?: Record<string, unknown>;
  /** Upstream base URL for the default single-provider setup. */
  upstream?: string;
  /** The gateway's logger (default: silent, or TEST_LOG_LEVEL). */
  logger?: pino.Logger;
}

/** A config with one OpenAI-compatible provider and a few models at lincorelink's prices. */
export function defaultConfig(upstream: string): Record<string, unknown> {
  return {
    providers: [{ id: 'fake', kind: 'openai', base_url: upstream, api_key: 'sk-upstream-secret-value-123' }],
    models: [
      { id: 'deepseek-v4-flash', owned_by: 'deepseek', context_window: 1_000_000, upstreams: [{ provider: 'fake', model: 'upstream-flash' }], pricing: { input: '0.16', cached_input: '0.004', output: '0.30' } },
      { id: 'deepseek-v4-pro', owned_by: 'deepseek', context_window: 1_000_000, upstreams: [{ provider: 'fake', model: 'upstream-pro' }], pricing: { input: '0.60', cached_input: '0.005', output: '1.20' } },
      { id: 'embed-small', type: 'embedding', owned_by: 'openai', context_window: 8191, upstreams: [{ provider: 'fake', model: 'text-embedding-3-small' }], pricing: { input: '0.02', output: '0' } },
    ],
  };
}

export async function startTestGateway(opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-test-'));
  const adminToken = `test-admin-${randomBytes(16).toString('hex')}`;
  const raw = { ...(opts.config ?? defaultConfig(opts.upstream ?? 'http://127.0.0.1:9/v1')) };
  const config = validateConfig({
    listen: { host: '127.0.0.1', port: 0 },
    storage: `sqlite:${join(dir, 'tollgate.db')}`,
    admin_token: adminToken,
    flush_interval_ms: 20,
    ...raw,
  });
  const logger = opts.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const gw = await startGateway(config, { logger, allowSimulated: true });
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${gw.url}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  };
  return {
    gw,
    url: gw.url,
    adminToken,
    dir,
    admin,
    async customer(o = {}) {
      const a = await admin('POST', '/accounts', { name: o.name ?? 'customer', ...(o.plan ? { plan: o.plan } : {}) });
      if (a.status !== 201) throw new Error(`account create failed: ${JSON.stringify(a.body)}`);
      const credit = o.creditUsd ?? '100';
      if (credit !== '0') {
        const c = await admin('POST', `/accounts/${a.body.id}/credits`, { amount_usd: credit, note: 'test credit' });
        if (c.status !== 201) throw new Error(`credit failed: ${JSON.stringify(c.body)}`);
      }
      const k = await admin('POST', `/accounts/${a.body.id}/keys`, { name: 'test' });
      if (k.status !== 201) throw new Error(`key create failed: ${JSON.stringify(k.body)}`);
      return { accountId: a.body.id, key: k.body.key, keyId: k.body.id };
    },
    async close() {
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fake OpenAI upstream and a gateway with the default config in front of it, both closed when the test ends. */
export async function startGatewayOnFakeOpenAI(t: { after: (fn: () => Promise<void>) => void }): Promise<{ up: FakeOpenAI; tg: TestGateway }> {
  const up = await startFakeOpenAI();
  const tg = await startTestGateway({ upstream: up.baseUrl });
  t.after(async () => {
    await tg.close();
    await up.close();
  });
  return { up, tg };
}

/**
 * In a describe block: a fake OpenAI upstream, a gateway with the default config in front
 * of it and one customer, started before the block's tests and closed after them. `take`
 * receives them once started, e.g. `onFakeOpenAI((s) => ({ up, tg, key } = s))`.
 */
export function onFakeOpenAI(take: (s: { up: FakeOpenAI; tg: TestGateway; key: string; accountId: string }) => void): void {
  let up: FakeOpenAI | undefined;
  let tg: TestGateway | undefined;
  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ upstream: up.baseUrl });
    take({ up, tg, ...(await tg.customer()) });
  });
  after(async () => {
    await tg?.close();
    await up?.close();
  });
}
