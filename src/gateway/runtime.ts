import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Db } from '../store/open.ts';
import type { Catalog } from './catalog.ts';
import type { KeyCache } from './key-cache.ts';
import type { RequestLog } from '../log/request-log.ts';

/** Everything the request pipeline needs, built once at start (see app.ts). */
export interface Runtime {
  readonly config: Config;
  readonly db: Db;
  readonly log: Logger;
  readonly catalog: Catalog;
  readonly keys: KeyCache;
  readonly requestLog: RequestLog;
  /** HMAC key for API key hashes. */
  readonly secret: string;
  /** SHA-256 of the admin token. */
  readonly adminTokenHash: string;
  /** Requests being served right now, so shutdown can wait for them. */
  inFlight: number;
}
