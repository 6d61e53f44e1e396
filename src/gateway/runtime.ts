import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Db } from '../store/open.ts';
import type { Catalog } from './catalog.ts';
import type { KeyCache } from './key-cache.ts';
import type { WriteBehind } from '../store/write-behind.ts';
import type { AccountStates } from '../billing/account-state.ts';
import type { Billing } from '../billing/billing.ts';
import type { Limits } from '../limits/limits.ts';
import type { SchemaCheckThread } from './json-schema-thread.ts';
import type { TokenCountThreads } from '../limits/token-count-threads.ts';
import type { RequestMetrics } from '../metrics/request-metrics.ts';

/** Everything the request pipeline needs, built once at start (see start.ts). */
export interface Runtime {
  readonly config: Config;
  readonly db: Db;
  readonly log: Logger;
  readonly catalog: Catalog;
  readonly keys: KeyCache;
  readonly accounts: AccountStates;
  readonly billing: Billing;
  readonly limits: Limits;
  /** Request records, reservations and charges on their way to the store. */
  readonly journal: WriteBehind;
  /** Counts long inputs' tokens off the event loop. */
  readonly tokenCount: TokenCountThreads;
  /** Checks json_schema answers off the event loop. */
  readonly schemaCheck: SchemaCheckThread;
  /** HMAC key for API key hashes. */
  readonly secret: string;
  /** Prefixes of live keys made under an earlier `key_prefix`: still accepted, so that
   *  changing the prefix (new keys get it) does not lock every customer out. */
  readonly oldKeyPrefixes: readonly string[];
  /** SHA-256 of the admin token; not readonly: a first start stores its generated token's hash once it listens (start.ts). */
  adminTokenHash: string;
  /** What finished requests add up to, for GET /metrics. */
  readonly metrics: RequestMetrics;
  /** Requests being served right now. */
  inFlight: number;
  /** Shutdown's drain ran out of time and cut the requests still in flight (start.ts). */
  drainExpired: boolean;
}
