import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// One schema for every dialect: only portable column types (text, bigint, integer).
// Migrations are append-only; never edit one that has shipped.

export const migrations: Record<string, Migration> = {
  '0001_foundation': {
    async up(db: Kysely<any>) {
      await db.schema.createTable('settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createTable('accounts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('plan', 'text')
        .addColumn('balance', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('suspended', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('overrides', 'text')
        .execute();
      await db.schema.createIndex('api_keys_account').on('api_keys').column('account_id').execute();
      await db.schema.createTable('requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('account_id', 'text')
        .addColumn('key_id', 'text')
        .addColumn('endpoint', 'text', (c) => c.notNull())
        .addColumn('model', 'text')
        .addColumn('provider', 'text')
        .addColumn('upstream_model', 'text')
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('error_code', 'text')
        .addColumn('stream', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('prompt_tokens', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('cached_tokens', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('cache_write_tokens', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('completion_tokens', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('cost', 'bigint')
        .addColumn('ttfb_ms', 'integer')
        .addColumn('latency_ms', 'integer', (c) => c.notNull())
        .addColumn('failover', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('requests_account_time').on('requests').columns(['account_id', 'created_at']).execute();
      await db.schema.createIndex('requests_time').on('requests').column('created_at').execute();
      await db.schema.createTable('ledger')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('amount', 'bigint', (c) => c.notNull())
        .addColumn('request_id', 'text')
        .addColumn('note', 'text')
        .addColumn('actor', 'text')
        .addColumn('detail', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('ledger_account').on('ledger').columns(['account_id', 'id']).execute();
    },
  },
  '0002_billing': {
    async up(db: Kysely<any>) {
      // Open reservations survive a crash so they can be resolved on restart.
      await db.schema.createTable('reservations')
        .addColumn('request_id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('amount', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('reservations_time').on('reservations').column('created_at').execute();
      // Prices set through the admin API; they override the config file's.
      await db.schema.createTable('model_prices')
        .addColumn('model_id', 'text', (c) => c.primaryKey())
        .addColumn('input', 'text', (c) => c.notNull())
        .addColumn('cached_input', 'text')
        .addColumn('output', 'text', (c) => c.notNull())
        .addColumn('cache_write', 'text')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.alterTable('requests').addColumn('prices', 'text').execute();
      await db.schema.alterTable('requests').addColumn('reserved', 'bigint').execute();
      await db.schema.createIndex('ledger_request').on('ledger').column('request_id').execute();
    },
  },
  '0003_plans': {
    async up(db: Kysely<any>) {
      // Plans created or changed through the admin API; they override the config file's
      // plans by id. A null limit means unlimited; models is a JSON array or null (all).
      await db.schema.createTable('plans')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text')
        .addColumn('models', 'text')
        .addColumn('context_tokens', 'bigint')
        .addColumn('max_output_tokens', 'bigint')
        .addColumn('concurrency', 'bigint')
        .addColumn('rpm', 'bigint')
        .addColumn('tpm', 'bigint')
        .addColumn('daily_tokens', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0004_lean_journal_indexes': {
    async up(db: Kysely<any>) {
      // Every index is maintained on each journal commit. Time-ordered request ids make
      // the primary key a time index already, and ledger lookups by request go through
      // the requests table's primary key.
      await db.schema.dropIndex('requests_time').ifExists().execute();
      await db.schema.dropIndex('ledger_request').ifExists().execute();
    },
  },
  '0005_usage_daily': {
    async up(db: Kysely<any>) {
      // What request-log retention deletes is first added up here, per account, UTC day,
      // model and key, so usage totals outlive the log rows (store/prune.ts). Cost is kept
      // as whole micro-dollars and the picodollars left over, as usage.ts sums it, so
      // neither can overflow an int64.
      await db.schema.createTable('usage_daily')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('day', 'bigint', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('requests', 'bigint', (c) => c.notNull())
        .addColumn('prompt_tokens', 'bigint', (c) => c.notNull())
        .addColumn('cached_tokens', 'bigint', (c) => c.notNull())
        .addColumn('cache_write_tokens', 'bigint', (c) => c.notNull())
        .addColumn('completion_tokens', 'bigint', (c) => c.notNull())
        .addColumn('cost_micro', 'bigint', (c) => c.notNull())
        .addColumn('cost_rest', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('usage_daily_pk', ['account_id', 'day', 'model', 'key_id'])
        .execute();
    },
  },
};
