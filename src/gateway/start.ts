import pino, { type Logger } from 'pino';
import { RequestMetrics } from '../metrics/request-metrics.ts';
import type { Config } from '../config/schema.ts';
import { openStore, sqliteFile, sqliteHandle, type Db } from '../store/open.ts';
import { ConfigError } from '../config/load.ts';
import { startWorkerJournalSink } from '../store/worker-journal-sink.ts';
import { createSqliteJournalSink } from '../store/sqlite-journal-sink.ts';
import { getSetting, setSetting, setSettingOnce } from '../store/settings.ts';
import { generateSecret, hashAdminToken } from '../auth/api-keys.ts';
import { otherLiveKeyPrefixes } from '../store/api-keys.ts';
import { lockStore } from '../store/instance-lock.ts';
import { watchStoreFile } from '../store/store-file-watch.ts';
import { createHmac, randomBytes } from 'node:crypto';
import { Catalog } from './catalog.ts';
import { KeyCache } from './key-cache.ts';
import { WriteBehind } from '../store/write-behind.ts';
import { AccountStates } from '../billing/account-state.ts';
import { Billing } from '../billing/billing.ts';
import { createLimits } from '../limits/create.ts';
import { buildApp } from './app.ts';
import { SchemaCheckThread } from './json-schema-thread.ts';
import { TokenCountThreads } from '../limits/token-count-threads.ts';
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

/**
 * Resolves once no request is being served. The server closes when its last connection
 * does, and a client that leaves mid-request closes its connection before its exchange
 * has finished (the upstream call is aborted, then the request is settled and recorded):
 * flushing the journal at that point lost every such request, its charge for the text
 * already streamed, and left its reservation open. Polled, so the hot path pays nothing;
 * an exchange whose client is gone ends within a few ticks of its upstream's abort.
 */
async function exchangesFinished(rt: Runtime): Promise<void> {
  while (rt.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
}

/**
 * The API keys' HMAC secret, checked against a fingerprint of the one the store's keys
 * were made with. A redeploy that lost TOLLGATE_SECRET (or set one on a store that had
 * generated its own) hashed every key differently: each customer got a 401 with nothing
 * said anywhere, and keys made meanwhile broke when the right secret came back. With no
 * live key there is nothing to break, and the new secret is taken.
 */
async function apiKeySecret(db: Db, configured: string | undefined): Promise<string> {
  const secret = configured ?? (await setSettingOnce(db, 'api_key_secret', generateSecret()));
  const fingerprint = createHmac('sha256', secret).update('tollgate api key secret fingerprint').digest('hex');
  if ((await setSettingOnce(db, 'api_key_secret_fingerprint', fingerprint)) === fingerprint) return secret;
  const liveKey = await db.selectFrom('api_keys').select('id').where('revoked_at', 'is', null).limit(1).executeTakeFirst();
  if (liveKey) {
    const which = configured ? 'the configured `secret` (TOLLGATE_SECRET)' : 'no `secret` is configured, and the one kept in the store';
    throw new ConfigError(`config error at secret: ${which} is not the one this database's keys were made with, so every key would be refused; set secret (or TOLLGATE_SECRET) to that one (to change it on purpose, revoke every key first: keys made with the old one cannot be checked)`);
  }
  await setSetting(db, 'api_key_secret_fingerprint', fingerprint);
  return secret;
}

/**
 * The logger, made to stop writing once its terminal has hung up (EIO), as pino itself
 * does for a closed pipe (EPIPE): it re-threw EIO as an unhandled 'error', and a gateway
 * draining after its SSH session dropped crashed on its next log line, losing the
 * records and charges not yet written.
 */
function quietOnHangup(log: Logger): Logger {
  const stream = (log as unknown as Record<symbol, NodeJS.EventEmitter & { write: unknown; flushSync?: unknown }>)[pino.symbols.streamSym];
  stream?.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EIO' && err.code !== 'EPIPE') throw err;
    stream.write = () => true;
    stream.flushSync = () => {};
  });
  return log;
}

/** How long the event loop may wait for the store's write lock (see startGateway). */
const MAIN_THREAD_BUSY_MS = 250;

export async function startGateway(config: Config, opts: StartOptions = {}): Promise<Gateway> {
  const lock = lockStore(config.storage);
  let gateway: Gateway;
  try {
    gateway = await startLocked(config, opts);
  } catch (err) {
    lock.release();
    throw err;
  }
  const close = gateway.close;
  gateway.close = () => close().finally(() => lock.release());
  return gateway;
}

async function startLocked(config: Config, opts: StartOptions): Promise<Gateway> {
  const log = opts.logger ?? quietOnHangup(pino({ level: config.logging.level, redact: ['*.api_key', '*.authorization', 'api_key', 'authorization'] }));
  const simulated = config.providers.filter((p) => p.simulated).map((p) => p.id);
  if (simulated.length && !opts.allowSimulated) {
    throw new ConfigError(`config error at providers: ${simulated.join(', ')} marked simulated; only \`tollgate demo\` may use simulated upstreams`);
  }
  const db = await openStore(config.storage);
  // What can refuse the start (the secret, default_plan) is read before anything else is
  // started: a start that failed later left the journal thread running and had already
  // swept orphaned reservations.
  let secret: string;
  let limits: Awaited<ReturnType<typeof createLimits>>;
  let oldKeyPrefixes: string[];
  try {
    secret = await apiKeySecret(db, config.secret);
    limits = await createLimits(config, db, log);
    oldKeyPrefixes = await otherLiveKeyPrefixes(db, config.key_prefix);
  } catch (err) {
    await db.destroy();
    throw err;
  }

  let newAdminToken: string | null = null;
  // A first start's generated token: kept (its hash stored) only once the gateway
  // listens, since it is printed only then. Stored before, a start that failed (port in
  // use) kept a token nobody was shown, and the next start printed none.
  let pendingToken: string | null = null;
  let adminTokenHash: string;
  if (config.admin_token) {
    adminTokenHash = hashAdminToken(config.admin_token);
  } else {
    const stored = await getSetting(db, 'admin_token_sha256');
    if (stored) adminTokenHash = stored;
    else {
      pendingToken = `tg-admin-${randomBytes(24).toString('base64url')}`;
      adminTokenHash = hashAdminToken(pendingToken);
    }
  }

  const catalog = new Catalog(config);
  // Journal commits run on a worker thread so they never stall request handling; an
  // in-memory store (one connection only) writes on this thread.
  const file = sqliteFile(db);
  const worker = file ? await startWorkerJournalSink(file) : null;
  const journal = new WriteBehind(worker ? worker.sink : createSqliteJournalSink(sqliteHandle(db)!), log, { flushMs: config.flush_interval_ms });
  // better-sqlite3 waits out a locked store on the calling thread: on this one, an admin
  // write behind another process's lock (a sqlite3 shell in a transaction) held every
  // request for up to the 5 s busy timeout. The journal thread's commits take milliseconds,
  // so a short wait covers them; a longer lock is a 503 store_busy for the admin call.
  if (worker) sqliteHandle(db)!.pragma(`busy_timeout = ${MAIN_THREAD_BUSY_MS}`);
  const accounts = new AccountStates(db);
  const billing = new Billing(db, log, accounts, journal, catalog.models.values());
  try {
    await billing.loadPriceOverrides();
    await billing.resolveOrphans(config.request_timeout_ms);
  } catch (err) {
    await worker?.close();
    await catalog.close();
    await db.destroy();
    throw err;
  }
  const rt: Runtime = {
    config,
    db,
    log,
    catalog,
    keys: new KeyCache(db, secret),
    accounts,
    billing,
    limits,
    journal,
    schemaCheck: new SchemaCheckThread(),
    tokenCount: new TokenCountThreads({ log }),
    secret,
    oldKeyPrefixes,
    adminTokenHash,
    metrics: new RequestMetrics(),
    inFlight: 0,
    drainExpired: false,
  };
  const app = buildApp(rt);
  try {
    await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (err) {
    // Nothing may keep the process alive after a failed start (the worker would).
    await app.close().catch(() => {});
    await rt.schemaCheck.close();
    await rt.tokenCount.close();
    await worker?.close();
    await catalog.close();
    await db.destroy();
    throw err;
  }
  if (pendingToken) {
    // Another process sharing the store may have stored its own first: that one holds.
    rt.adminTokenHash = await setSettingOnce(db, 'admin_token_sha256', adminTokenHash);
    if (rt.adminTokenHash === adminTokenHash) newAdminToken = pendingToken;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.listen.port;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;

  const watch = file ? watchStoreFile(file, journal, log) : null;
  // Reservations of a crashed process are resolved at start and then every minute.
  const sweep = setInterval(() => {
    billing.resolveOrphans(config.request_timeout_ms).catch((err: unknown) => log.error({ err }, 'resolving orphaned reservations failed'));
  }, 60_000);
  sweep.unref();

  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}`,
    port,
    rt,
    app,
    newAdminToken,
    close() {
      closing ??= (async () => {
        clearInterval(sweep);
        if (watch) clearInterval(watch);
        // A drain with no end would be ended by the supervisor's SIGKILL, which charges
        // nothing of what the cut streams sent: past shutdown_drain_ms, the connections
        // still open are closed, and each request settles as a client that left does.
        const cut = setTimeout(() => {
          rt.drainExpired = true;
          if (rt.inFlight > 0) log.warn({ in_flight: rt.inFlight, after_ms: config.shutdown_drain_ms }, 'shutdown drain timed out; cutting the requests still in flight');
          app.server.closeAllConnections();
        }, config.shutdown_drain_ms);
        await app.close();
        clearTimeout(cut);
        await exchangesFinished(rt);
        await rt.schemaCheck.close();
        await rt.tokenCount.close();
        // Given up on (the store locked past the retries): logged, and the shutdown fails,
        // so `tollgate serve` exits 1 rather than report a clean stop.
        const lost = await journal.close();
        await worker?.close();
        await catalog.close();
        await db.destroy();
        if (journal.lost) throw new Error(`${journal.lost}; what was served since is not in it`);
        if (lost > 0) throw new Error(`${lost} request records and billing writes could not be written to the store and are lost (see the log)`);
      })();
      return closing;
    },
  };
}
