import { z } from 'zod';
import { perMillionToPerToken } from '../billing/money.ts';
import { isGlob } from '../limits/plans.ts';
import { HTTP_TOKEN, UNSAFE_HEADER_VALUE } from '../protocol/http-header.ts';

// Validated once at start: a bad config fails loudly with the path of the bad key,
// never at request time.

const price = z.union([z.string(), z.number()]).superRefine((v, ctx) => {
  try {
    perMillionToPerToken(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
}).transform((v) => String(v));

// ${VAR} interpolation yields text, and only the schema knows which fields are numbers:
// there, digits (port: ${PORT}) and true/false read as a number or boolean; a string
// field keeps the text as it was (a numeric header value, a key of digits).
const int = z.preprocess((v) => (typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v), z.number().int());
const bool = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());
const positiveInt = int.pipe(z.number().positive());
// A wait handed to setTimeout: Node turns anything longer into 1 ms (with only a
// warning), so `timeout_ms: 3000000000` would time every upstream call out at once.
const durationMs = positiveInt.pipe(z.number().max(2_147_483_647, 'at most 2147483647 ms (about 24.8 days), the longest wait a Node timer holds'));
const identifier = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/, 'letters, digits, and . _ : / - only (max 128)');

// What the upstream client refuses to send, refused here at start: otherwise every
// request to the provider failed as "could not be reached". A key read from a file
// edited on Windows ends in \r. The messages never quote the value.
const headerValue = z.string().refine((v) => !UNSAFE_HEADER_VALUE.test(v), 'must not contain a line break or NUL (a key read from a file may end in \\r)');

export const providerSchema = z.strictObject({
  id: identifier,
  kind: z.enum(['openai', 'anthropic', 'gemini']),
  // The upstream client sends to the origin and path only: a query (Azure's
  // ?api-version=), credentials or a fragment would be dropped without a word.
  base_url: z.url({ protocol: /^https?$/ }).superRefine((u, ctx) => {
    const url = URL.parse(u);
    if (!url) return; // z.url has said so
    if (url.search) ctx.addIssue({ code: 'custom', message: 'must not have a query string (?...): it would not be sent; put such parameters in headers, or ask for query support' });
    if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'must not hold credentials (user:pass@); use api_key or headers' });
    if (url.hash) ctx.addIssue({ code: 'custom', message: 'must not have a fragment (#...)' });
  }),
  api_key: headerValue.default(''),
  headers: z.record(z.string().regex(HTTP_TOKEN, 'not a valid HTTP header name'), headerValue).default({}),
  timeout_ms: durationMs.default(120_000),
  /** openai kind: the field that carries a plan's output cap when the client sets none
   *  (OpenAI's reasoning models accept only max_completion_tokens; many compatible
   *  servers only max_tokens). */
  max_tokens_field: z.enum(['max_tokens', 'max_completion_tokens']).default('max_tokens'),
  /** Circuit breaker: open after this many consecutive failures, probe again after cooldown_ms. */
  breaker: z.strictObject({ failures: positiveInt.default(5), cooldown_ms: durationMs.default(10_000) }).default({ failures: 5, cooldown_ms: 10_000 }),
  /** The operator's agreement with this provider keeps no prompts or answers (OpenAI's
   *  zero data retention, say): only such providers serve a request that asks for it
   *  (`x-tollgate-zero-retention: true`, or idclinks' `idc-no-retention: true`). */
  zero_retention: bool.default(false),
  /** Simulated upstreams are only allowed by `tollgate demo` and tests. */
  simulated: bool.default(false),
});

export const pricingSchema = z.strictObject({
  input: price,
  cached_input: price.optional(),
  output: price,
  cache_write: price.optional(),
});

export const upstreamRefSchema = z.strictObject({
  provider: identifier,
  model: z.string().min(1),
  weight: positiveInt.default(1),
  priority: int.default(0),
});

export const modelSchema = z.strictObject({
  id: identifier,
  owned_by: z.string().optional(),
  context_window: positiveInt.optional(),
  max_output_tokens: positiveInt.optional(),
  type: z.enum(['chat', 'embedding']).default('chat'),
  /** Validate json_schema answers (non-streaming) and retry the upstream once on a miss. */
  validate_json_schema: bool.default(true),
  upstreams: z.array(upstreamRefSchema).min(1),
  pricing: pricingSchema.optional(),
});

export const planSchema = z.strictObject({
  id: identifier,
  name: z.string().optional(),
  models: z.array(z.string().min(1)).optional(),
  context_tokens: positiveInt.optional(),
  max_output_tokens: positiveInt.optional(),
  concurrency: positiveInt.optional(),
  rpm: positiveInt.optional(),
  tpm: positiveInt.optional(),
  daily_tokens: positiveInt.optional(),
});

export const configSchema = z
  .strictObject({
    listen: z.strictObject({
      // An empty host (`host: \${HOST:-}`) would make Node listen on every interface.
      host: z.string().min(1, 'must not be empty (write 0.0.0.0 to listen on every interface)').default('127.0.0.1'),
      port: int.pipe(z.number().min(0).max(65535)).default(8080),
    }).default({ host: '127.0.0.1', port: 8080 }),
    storage: z.string().regex(/^sqlite:.+/, 'must be sqlite:<path> (postgres:// arrives with scale-out)').default('sqlite:./data/tollgate.db'),
    // Sent as "Authorization: Bearer <token>", which the admin API trims: a token with
    // spaces or a line break at either end (a .env file's \r) could never be presented.
    admin_token: z.string().min(16, 'admin_token must be at least 16 characters').regex(/^[^\s\0]+$/, 'must not contain spaces, line breaks or NUL').optional(),
    /** A read-only token for GET /metrics (a Prometheus scraper need not hold the admin token). */
    metrics_token: z.string().min(16, 'metrics_token must be at least 16 characters').regex(/^[^\s\0]+$/, 'must not contain spaces, line breaks or NUL').optional(),
    /** HMAC key for hashing API keys; generated and stored in the database when absent. */
    secret: z.string().min(32, 'secret must be at least 32 characters').optional(),
    key_prefix: z.string().regex(/^[A-Za-z0-9_-]{1,16}$/, 'letters, digits, _ and - only, at most 16').default('sk-tg-'),
    max_body_bytes: positiveInt.default(10 * 1024 * 1024),
    request_timeout_ms: durationMs.default(120_000),
    /** How long a streaming client may leave one write undrained before it is cut; the
     *  upstream is paused meanwhile, holding a connection and a reservation. */
    send_timeout_ms: durationMs.default(60_000),
    /** How long SIGTERM waits for requests in flight before cutting them (each cut one is
     *  recorded and charged for what it streamed). 25 s fits Kubernetes' 30 s grace. */
    shutdown_drain_ms: durationMs.default(25_000),
    /** Request records and billing writes reach the store in batches this often (the most a crash can lose). */
    // 10 ms, not 50: at one connection a 50 ms batch took ~1.5 ms to commit and added
    // ~0.6 ms to the p99 where the journal thread shares a core; throughput at 64
    // connections was the same (bench, alternating runs); a crash loses 5x less.
    flush_interval_ms: durationMs.default(10),
    default_plan: z.string().optional(),
    /** How long request-log rows are kept; unset keeps them forever. The ledger is never pruned. */
    request_log: z.strictObject({
      // Two days at least: the daily-token counters are reloaded at start from today's
      // rows (and yesterday's still running at midnight), and a day's usage should
      // survive the day it ends.
      retention_days: int.pipe(z.number().min(2, 'at least 2 (the daily token limits are reloaded from today\'s request log at start)').max(36_500)).optional(),
    }).default({}),
    logging: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).default({ level: 'info' }),
    providers: z.array(providerSchema).default([]),
    models: z.array(modelSchema).default([]),
    plans: z.array(planSchema).default([]),
  })
  .superRefine((cfg, ctx) => {
    const providers = new Set<string>();
    cfg.providers.forEach((p, i) => {
      if (providers.has(p.id)) ctx.addIssue({ code: 'custom', path: ['providers', i, 'id'], message: `duplicate provider id "${p.id}"` });
      providers.add(p.id);
    });
    const models = new Set<string>();
    cfg.models.forEach((m, i) => {
      if (models.has(m.id)) ctx.addIssue({ code: 'custom', path: ['models', i, 'id'], message: `duplicate model id "${m.id}"` });
      models.add(m.id);
      m.upstreams.forEach((u, j) => {
        if (!providers.has(u.provider)) {
          ctx.addIssue({ code: 'custom', path: ['models', i, 'upstreams', j, 'provider'], message: `unknown provider "${u.provider}"` });
        }
      });
    });
    // An id with a slash can be another model's `owner/id` form: requests and plans
    // naming it reached whichever the lookup found first, without a word.
    const ownerIds = new Map(cfg.models.map((m, i) => [`${m.owned_by ?? m.upstreams[0]?.provider}/${m.id}`, i]));
    cfg.models.forEach((m, i) => {
      const j = ownerIds.get(m.id);
      if (j !== undefined && j !== i) ctx.addIssue({ code: 'custom', path: ['models', i, 'id'], message: `"${m.id}" is also the owner/id form of models[${j}]; rename one of them` });
    });
    // A plan's exact model id must be configured, as the admin API requires of its plans
    // (a typo would otherwise lock the plan's customers out with 403s); a pattern may
    // match none yet. Either form is accepted: `id` or `owned_by/id`.
    const modelNames = new Set(cfg.models.flatMap((m) => [m.id, `${m.owned_by ?? m.upstreams[0]?.provider}/${m.id}`]));
    const plans = new Set<string>();
    cfg.plans.forEach((p, i) => {
      if (plans.has(p.id)) ctx.addIssue({ code: 'custom', path: ['plans', i, 'id'], message: `duplicate plan id "${p.id}"` });
      plans.add(p.id);
      p.models?.forEach((m, j) => {
        if (!isGlob(m) && !modelNames.has(m)) ctx.addIssue({ code: 'custom', path: ['plans', i, 'models', j], message: `unknown model "${m}" (use a configured model id, or a pattern such as "deepseek-*")` });
      });
    });
    // default_plan may name a plan created through the admin API: checked at start, once
    // the store's plans are loaded (limits/create.ts).
  });

export type Config = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type PlanConfig = z.infer<typeof planSchema>;
export type PricingConfig = z.infer<typeof pricingSchema>;
