import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Db } from '../store/open.ts';
import type { ModelEntry } from '../gateway/catalog.ts';
import type { Limits } from './limits.ts';
import { PlanLimits } from './plan-limits.ts';
import { PlanRegistry } from './plans.ts';
import { countChatInputTokens } from './token-count.ts';

const DAY = 86_400_000;

/**
 * Builds the limits for this gateway from its plans (config file, then the store's).
 * The only I/O is here, at start: the plans, and today's billed tokens per account and
 * key from the request log, so a restart does not hand out a second daily allowance.
 */
export async function createLimits(config: Config, db: Db, log: Logger): Promise<Limits> {
  const models = config.models.map((m) => ({ id: m.id, ownedBy: m.owned_by ?? m.upstreams[0]!.provider }) as ModelEntry);
  const plans = await PlanRegistry.load(config, db, log, models);
  const limits = new PlanLimits(plans, { log, defaultPlan: config.default_plan });
  const dayStart = Math.floor(Date.now() / DAY) * DAY;
  const rows = await db
    .selectFrom('requests')
    .select(['account_id', 'key_id', sql<bigint | number>`sum(prompt_tokens + completion_tokens)`.as('tokens')])
    .where('created_at', '>=', BigInt(dayStart))
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
