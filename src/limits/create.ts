import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Db } from '../store/open.ts';
import { unlimited, type Limits } from './limits.ts';

/** Builds the limits for this gateway from its plans. */
export async function createLimits(_config: Config, _db: Db, _log: Logger): Promise<Limits> {
  return unlimited;
}
