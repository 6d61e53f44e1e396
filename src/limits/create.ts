import { sql } from 'kysely';
import type { Logger } from 'pino';
import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { Db } from '../store/open.ts';
import type { ModelEntry } from '../gateway/catalog.ts';
import type { Limits } from './limits.ts';
import { PlanLimits } from './plan-limits.ts';
import { PlanRegistry } from './plans.ts';
import { countChatInputTokens } from './token-count.ts';
import { requestIdFloor } from '../gateway/request-id.ts';

const DAY = 86_400_000;

/**
 * Builds the limits for this gateway from its plans (config file, then the store's).
 * The only I/O is here, at start: the plans, and today's billed tokens per account and
 * key from the request log, so a restart does not hand out a second daily allowance.
 */
export async function createLimits(config: Config, db: Db, log: Logger): Promise<Limits> {
  const models = config.models.map((m) => ({ id: m.id, ownedBy: m.owned_by ?? m.upstreams[0]!.provider }) as ModelEntry);
  const plans = await PlanRegistry.load(config, db, log, models);
  if (config.default_plan !== undefined && !plans.get(config.default_plan)) {
    // Not quoted: the value may have come from the environment, and this error is printed.
    throw new ConfigError('config error at default_plan: no plan has that id (neither the config file\'s plans nor those created with POST /admin/v1/plans)');
  }
  const limits = new PlanLimits(plans, { log, defaultPlan: config.default_plan });
  const dayStart = Math.floor(Date.now() / DAY) * DAY;
  // Today's rows are found through the primary key (request ids begin with their time),
  // not by scanning the whole log: there is no index on created_at, and left to itself
  // the planner walks the account index for the GROUP BY. MATERIALIZED keeps the range
  // scan apart from the grouping (SQLite and PostgreSQL alike).
  // A request's tokens count for the day it ended in (release() books them then), so
  // the rows are those that ended today: started today, or up to request_timeout_ms
  // before (the longest a request runs) and still running at midnight. Taken by their
  // start, a request across midnight counted today until a restart and then no more.
  const rows = await db
    .with(
      (cte) => cte('today').materialized(),
      (q) =>
        q
          .selectFrom('requests')
          .select(['account_id', 'key_id', 'prompt_tokens', 'completion_tokens'])
          .where('id', '>=', requestIdFloor(dayStart - config.request_timeout_ms))
          .where((eb) => eb.or([eb('created_at', '>=', BigInt(dayStart)), eb(sql`created_at + latency_ms`, '>', BigInt(dayStart))])),
    )
    .selectFrom('today')
    .select(['account_id', 'key_id', sql<bigint | number>`sum(prompt_tokens + completion_tokens)`.as('tokens')])
    .groupBy(['account_id', 'key_id'])
    .execute();
  for (const r of rows) limits.seedDaily(r.account_id, r.key_id, Number(r.tokens ?? 0));
  warmTokenizer();
  return limits;
}

/**
 * The tokenizer's first calls are several times slower than later ones (JIT, merge
 * cache); warm it at start so the first large request is not the one that pays.
 */
function warmTokenizer(): void {
  const text = 'The quick brown fox jumps over the lazy dog; 0123456789 — ¿Qué tal? 你好，世界。 '.repeat(400);
  for (let i = 0; i < 3; i++) countChatInputTokens({ messages: [{ role: 'user', content: text }] }, 1_000_000);
}
