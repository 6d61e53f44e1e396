import type { Selectable } from 'kysely';
import type { Logger } from 'pino';
import type { Config, PlanConfig } from '../config/schema.ts';
import type { ModelEntry } from '../gateway/catalog.ts';
import type { Db } from '../store/open.ts';
import type { PlansTable } from '../store/schema.ts';

// The plans: the config file's are the base, the ones created or changed through the
// admin API (table `plans`) override them by id or add to them. Held in memory; the
// admin API writes the store first, then swaps the in-memory plan, so a change applies
// to the next request and survives a restart.

/** The limits of a plan; null = unlimited (models: null = every model). */
export interface PlanSpec {
  id: string;
  name: string | null;
  models: string[] | null;
  context_tokens: number | null;
  max_output_tokens: number | null;
  concurrency: number | null;
  rpm: number | null;
  tpm: number | null;
  daily_tokens: number | null;
}

export const PLAN_LIMIT_FIELDS = ['context_tokens', 'max_output_tokens', 'concurrency', 'rpm', 'tpm', 'daily_tokens'] as const;
export type PlanLimitField = (typeof PLAN_LIMIT_FIELDS)[number];

export interface Plan extends PlanSpec {
  /** 'config' = as in the config file; 'api' = created or changed through the admin API. */
  readonly source: 'config' | 'api';
  readonly createdAt: number | null;
  readonly updatedAt: number | null;
  /** Whether the plan's allowlist lets the model through. */
  allows(model: ModelEntry): boolean;
}

export type PlanPatch = Partial<Omit<PlanSpec, 'id'>>;

/** A pattern with `*` (any run of characters) or `?` (one character), else an exact id. */
export function isGlob(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

export type ModelMatcher = (model: ModelEntry) => boolean;

/**
 * Compiles an allowlist: each entry is a model id or a glob, matched against the model's
 * id and its `owner/id` form (so `deepseek-*` and `deepseek/*` both work).
 */
export function compileAllowlist(patterns: readonly string[]): ModelMatcher {
  const exact = new Set<string>();
  const globs: RegExp[] = [];
  for (const p of patterns) {
    if (!isGlob(p)) exact.add(p);
    else globs.push(new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`));
  }
  return (m) => {
    const owned = `${m.ownedBy}/${m.id}`;
    if (exact.has(m.id) || exact.has(owned)) return true;
    for (const g of globs) if (g.test(m.id) || g.test(owned)) return true;
    return false;
  };
}

const matchers = new WeakMap<readonly string[], ModelMatcher>();

/** The allowlist's matcher, compiled once per array (key rows are replaced, never mutated). */
export function allowlistMatcher(patterns: readonly string[]): ModelMatcher {
  let m = matchers.get(patterns);
  if (!m) {
    m = compileAllowlist(patterns);
    matchers.set(patterns, m);
  }
  return m;
}

function makePlan(spec: PlanSpec, source: Plan['source'], createdAt: number | null, updatedAt: number | null): Plan {
  const match = spec.models ? compileAllowlist(spec.models) : null;
  return Object.freeze({ ...spec, models: spec.models ? Object.freeze([...spec.models]) as string[] : null, source, createdAt, updatedAt, allows: (m: ModelEntry) => (match ? match(m) : true) });
}

function fromConfig(p: PlanConfig): PlanSpec {
  return {
    id: p.id,
    name: p.name ?? null,
    models: p.models ?? null,
    context_tokens: p.context_tokens ?? null,
    max_output_tokens: p.max_output_tokens ?? null,
    concurrency: p.concurrency ?? null,
    rpm: p.rpm ?? null,
    tpm: p.tpm ?? null,
    daily_tokens: p.daily_tokens ?? null,
  };
}

const num = (v: bigint | number | null): number | null => (v === null ? null : Number(v));

function fromRow(r: Selectable<PlansTable>): PlanSpec {
  return {
    id: r.id,
    name: r.name,
    models: r.models === null ? null : (JSON.parse(r.models) as string[]),
    context_tokens: num(r.context_tokens),
    max_output_tokens: num(r.max_output_tokens),
    concurrency: num(r.concurrency),
    rpm: num(r.rpm),
    tpm: num(r.tpm),
    daily_tokens: num(r.daily_tokens),
  };
}

export class PlanRegistry {
  readonly #db: Db;
  readonly #plans = new Map<string, Plan>();

  constructor(db: Db) {
    this.#db = db;
  }

  /** Config plans, then the store's on top (by id). */
  static async load(config: Config, db: Db, log?: Logger, models?: Iterable<ModelEntry>): Promise<PlanRegistry> {
    const reg = new PlanRegistry(db);
    for (const p of config.plans) reg.#plans.set(p.id, makePlan(fromConfig(p), 'config', null, null));
    for (const r of await db.selectFrom('plans').selectAll().execute()) {
      reg.#plans.set(r.id, makePlan(fromRow(r), 'api', Number(r.created_at), Number(r.updated_at)));
    }
    if (log && models) {
      const all = [...models];
      for (const p of reg.#plans.values()) {
        for (const pattern of p.models ?? []) {
          const m = compileAllowlist([pattern]);
          if (!all.some(m)) log.warn({ plan: p.id, pattern }, 'plan lists a model that matches no configured model');
        }
      }
    }
    return reg;
  }

  get(id: string): Plan | undefined {
    return this.#plans.get(id);
  }

  has(id: string): boolean {
    return this.#plans.has(id);
  }

  list(): Plan[] {
    return [...this.#plans.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Adds a plan (the caller checked the id is free). */
  async create(spec: PlanSpec): Promise<Plan> {
    const now = Date.now();
    await this.#db.insertInto('plans').values({ ...toColumns(spec), id: spec.id, created_at: now, updated_at: now }).execute();
    const plan = makePlan(spec, 'api', now, now);
    this.#plans.set(spec.id, plan);
    return plan;
  }

  /** Changes an existing plan; a config plan gets a stored copy that overrides it. */
  async update(id: string, patch: PlanPatch): Promise<Plan | undefined> {
    const current = this.#plans.get(id);
    if (!current) return undefined;
    const spec: PlanSpec = { ...specOf(current) };
    for (const k of Object.keys(patch) as (keyof PlanPatch)[]) {
      if (patch[k] !== undefined) (spec as any)[k] = patch[k];
    }
    const now = Date.now();
    const cols = toColumns(spec);
    await this.#db
      .insertInto('plans')
      .values({ ...cols, id, created_at: now, updated_at: now })
      .onConflict((oc) => oc.column('id').doUpdateSet({ ...cols, updated_at: now }))
      .execute();
    const plan = makePlan(spec, 'api', current.createdAt ?? now, now);
    this.#plans.set(id, plan);
    return plan;
  }
}

export function specOf(p: PlanSpec): PlanSpec {
  return {
    id: p.id,
    name: p.name,
    models: p.models ? [...p.models] : null,
    context_tokens: p.context_tokens,
    max_output_tokens: p.max_output_tokens,
    concurrency: p.concurrency,
    rpm: p.rpm,
    tpm: p.tpm,
    daily_tokens: p.daily_tokens,
  };
}

function toColumns(s: PlanSpec) {
  return {
    name: s.name,
    models: s.models === null ? null : JSON.stringify(s.models),
    context_tokens: s.context_tokens,
    max_output_tokens: s.max_output_tokens,
    concurrency: s.concurrency,
    rpm: s.rpm,
    tpm: s.tpm,
    daily_tokens: s.daily_tokens,
  };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A plan as the admin API shows it: every limit present, null = unlimited. */
export function planJson(p: Plan) {
  return {
    id: p.id,
    object: 'plan',
    name: p.name,
    models: p.models,
    context_tokens: p.context_tokens,
    max_output_tokens: p.max_output_tokens,
    concurrency: p.concurrency,
    rpm: p.rpm,
    tpm: p.tpm,
    daily_tokens: p.daily_tokens,
    source: p.source,
    created_at: iso(p.createdAt),
    updated_at: iso(p.updatedAt),
  };
}
