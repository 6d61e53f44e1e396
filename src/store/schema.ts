import type { ColumnType, Generated } from 'kysely';

// Integers come back from SQLite as bigint (safe-integer mode), because money columns
// exceed 2^53 picodollars; mappers turn non-money columns into numbers.
type Int = ColumnType<bigint, bigint | number, bigint | number>;
type NullableInt = ColumnType<bigint | null, bigint | number | null, bigint | number | null>;

export interface SettingsTable {
  key: string;
  value: string;
}

export interface AccountsTable {
  id: string;
  name: string;
  plan: string | null;
  /** pUSD; always equals the sum of the account's ledger entries. */
  balance: Int;
  suspended: Int;
  created_at: Int;
  updated_at: Int;
}

export interface ApiKeysTable {
  id: string;
  account_id: string;
  /** HMAC-SHA256 of the key, hex. The key itself is never stored. */
  hash: string;
  /** First characters of the key, for people to recognise it ("sk-tg-AbCd…"). */
  prefix: string;
  name: string | null;
  created_at: Int;
  expires_at: NullableInt;
  revoked_at: NullableInt;
  /** JSON: per-key limit overrides (allowed models, rpm, tpm, daily tokens). */
  overrides: string | null;
}

export interface RequestsTable {
  id: string;
  created_at: Int;
  account_id: string | null;
  key_id: string | null;
  endpoint: string;
  model: string | null;
  provider: string | null;
  upstream_model: string | null;
  status: Int;
  error_code: string | null;
  stream: Int;
  prompt_tokens: Int;
  cached_tokens: Int;
  cache_write_tokens: Int;
  completion_tokens: Int;
  /** pUSD charged; null when billing did not apply. */
  cost: NullableInt;
  ttfb_ms: NullableInt;
  latency_ms: Int;
  failover: Int;
  /** JSON: the per-1M prices this request was billed at. */
  prices: string | null;
  /** pUSD reserved at admission. */
  reserved: NullableInt;
}

export interface ReservationsTable {
  request_id: string;
  account_id: string;
  amount: Int;
  created_at: Int;
}

export interface ModelPricesTable {
  model_id: string;
  input: string;
  cached_input: string | null;
  output: string;
  cache_write: string | null;
  updated_at: Int;
}

export interface LedgerTable {
  id: Generated<Int>;
  account_id: string;
  kind: 'credit' | 'charge' | 'refund' | 'adjustment';
  /** Signed pUSD: credits positive, charges negative. */
  amount: Int;
  request_id: string | null;
  note: string | null;
  actor: string | null;
  /** JSON detail: token counts and prices for a charge. */
  detail: string | null;
  created_at: Int;
}

/** Plans created or changed through the admin API; they override the config file's by id. */
export interface PlansTable {
  id: string;
  name: string | null;
  /** JSON array of model ids or glob patterns (`deepseek-*`); null = every model. */
  models: string | null;
  /** Each limit: null = unlimited. */
  context_tokens: NullableInt;
  max_output_tokens: NullableInt;
  concurrency: NullableInt;
  rpm: NullableInt;
  tpm: NullableInt;
  daily_tokens: NullableInt;
  created_at: Int;
  updated_at: Int;
}

/** Request-log rows deleted by retention, added up (migrations.ts 0005). */
export interface UsageDailyTable {
  account_id: string;
  /** Days since 1970-01-01, UTC. */
  day: Int;
  /** '' for requests that named no model. */
  model: string;
  /** '' for requests made without a key. */
  key_id: string;
  requests: Int;
  prompt_tokens: Int;
  cached_tokens: Int;
  cache_write_tokens: Int;
  completion_tokens: Int;
  /** The cost in whole micro-dollars, and the picodollars below a micro-dollar, summed apart. */
  cost_micro: Int;
  cost_rest: Int;
}

export interface Database {
  settings: SettingsTable;
  accounts: AccountsTable;
  api_keys: ApiKeysTable;
  requests: RequestsTable;
  ledger: LedgerTable;
  reservations: ReservationsTable;
  model_prices: ModelPricesTable;
  plans: PlansTable;
  usage_daily: UsageDailyTable;
}
