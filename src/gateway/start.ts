import pino, { type Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { openStore } from '../store/open.ts';
import { getSetting, setSettingOnce } from '../store/settings.ts';
import { generateSecret, hashAdminToken } from '../auth/api-keys.ts';
import { randomBytes } from 'node:crypto';
import { Catalog } from './catalog.ts';
import { KeyCache } from './key-cache.ts';
import { RequestLog } from '../log/request-log.ts';
import { buildApp } from './app.ts';
import type { Runtime } from './runtime.ts';
import type { FastifyInstance } from 'fastify';

export interface Gateway {
  readonly url: string;
  readonly port: number;
  readonly rt: Runtime;
  readonly app: FastifyInstance;
  /** Set when this start created the admin token (first start, none configured). */
  readonly newAdminToken: string | null;
  /** Stops accepting, waits for in-flight requests, flushes logs, closes the store. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Allow providers marked `simulated` (only `tollgate demo` and tests). */
  allowSimulated?: boolean;
}

export async function startGateway(config: Config, opts: StartOptions = {}): Promise<Gateway> {
  const log = opts.logger ?? pino({ level: config.logging.level, redact: ['*.api_key', '*.authorization', 'api_key', 'authorization'] });
  const simulated = config.providers.filter((p) => p.simulated).map((p) => p.id);
  if (simulated.length && !opts.allowSimulated) {
    throw new Error(`providers ${simulated.join(', ')} are marked simulated; only \`tollgate demo\` may use simulated upstreams`);
  }
  const db = await openStore(config.storage);
  const secret = config.secret ?? (await setSettingOnce(db, 'api_key_secret', generateSecret()));

  let newAdminToken: string | null = null;
  let adminTokenHash: string;
  if (config.admin_token) {
    adminTokenHash = hashAdminToken(config.admin_token);
  } else {
    const stored = await getSetting(db, 'admin_token_sha256');
    if (stored) adminTokenHash = stored;
    else {
      const token = `tg-admin-${randomBytes(24).toString('base64url')}`;
      adminTokenHash = await setSettingOnce(db, 'admin_token_sha256', hashAdminToken(token));
      if (adminTokenHash === hashAdminToken(token)) newAdminToken = token;
    }
  }

  const catalog = new Catalog(config);
  const rt: Runtime = {
    config,
    db,
    log,
    catalog,
    keys: new KeyCache(db),
    requestLog: new RequestLog(db, log, { flushMs: config.log_flush_ms }),
    secret,
    adminTokenHash,
    inFlight: 0,
  };
  const app = buildApp(rt);
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.listen.port;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}`,
    port,
    rt,
    app,
    newAdminToken,
    close() {
      closing ??= (async () => {
        await app.close();
        await rt.requestLog.close();
        await catalog.close();
        await db.destroy();
      })();
      return closing;
    },
  };
}
