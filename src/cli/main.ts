import { ConfigError } from '../config/load.ts';
import { adminCall, type AdminTarget } from './admin-client.ts';
import { KEY_LIMITS, PLAN_LIMITS, parseCommandLine, UsageError, type Flags } from './command-line.ts';
import { limitFields, oneOf } from './limit-flags.ts';
import { checkFlagValues, checkGatewayUrl } from './flag-values.ts';

const HELP = `tollgate — an OpenAI-compatible LLM API gateway

Usage:
  tollgate serve [--config FILE]        start the gateway (default 127.0.0.1:8080, SQLite in ./data)
  tollgate demo                         start the gateway beside a simulated upstream and show how to call it
  tollgate ledger verify [--config FILE] check that every balance equals the sum of its ledger (exit 1 if not)

Admin commands (talk to a running gateway; --url or TOLLGATE_URL, --admin-token or TOLLGATE_ADMIN_TOKEN):
  tollgate accounts create --name NAME [--plan PLAN]
  tollgate accounts list [--limit N] [--after ACCOUNT_ID]
  tollgate accounts get ACCOUNT_ID
  tollgate accounts update ACCOUNT_ID [--name NAME] [--plan PLAN|none] [--suspended true|false]
  tollgate accounts credit ACCOUNT_ID --amount USD [--note TEXT]
  tollgate accounts adjust ACCOUNT_ID --amount USD --reason TEXT [--kind adjustment|refund]
  tollgate accounts ledger ACCOUNT_ID [--limit N] [--before ENTRY_ID]
  tollgate accounts usage ACCOUNT_ID [--from ISO8601] [--to ISO8601] [--group-by day|model|key]
  tollgate accounts limits ACCOUNT_ID   the account's plan, overrides and what is used now
  tollgate keys create ACCOUNT_ID [--name NAME] [--expires-at ISO8601] [KEY LIMITS]
  tollgate keys list ACCOUNT_ID [--limit N] [--after KEY_ID]
  tollgate keys update KEY_ID [--name NAME] [--expires-at ISO8601|none] [KEY LIMITS]
  tollgate keys revoke KEY_ID
  tollgate requests [--account ACCOUNT_ID] [--from ISO8601] [--to ISO8601] [--limit N] [--before REQUEST_ID]
  tollgate requests get REQUEST_ID      one request (the x-request-id a customer quotes), with its ledger entries
  tollgate usage [--from ISO8601] [--to ISO8601] [--group-by day|model|key|account]   every account's totals
  tollgate plans list
  tollgate plans get PLAN_ID
  tollgate plans create PLAN_ID [--name NAME] [PLAN LIMITS]
  tollgate plans update PLAN_ID [--name NAME] [PLAN LIMITS]
  tollgate prices get MODEL_ID
  tollgate prices set MODEL_ID --input USD --output USD [--cached-input USD] [--cache-write USD]   (USD per 1M tokens)

KEY LIMITS: [--models A,B] [--rpm N] [--tpm N] [--daily-tokens N]
PLAN LIMITS: KEY LIMITS and [--context-tokens N] [--max-output-tokens N] [--concurrency N]
  --models takes model ids or patterns (deepseek-*); on an update, none removes a limit.
  A negative amount is written --amount=-0.50.

Lists answer {data, has_more}; the next page starts --after (accounts, keys) or
--before (requests) the last id shown.

Exit status: 0 done, 1 failed (the gateway refused or could not be reached; the
ledger does not verify), 2 the command line is wrong, 78 the config is wrong.
`;

function target(v: Flags): AdminTarget {
  const token = v['admin-token'] ?? process.env.TOLLGATE_ADMIN_TOKEN;
  if (!token) throw new UsageError('an admin token is needed: pass --admin-token or set TOLLGATE_ADMIN_TOKEN');
  return { url: checkGatewayUrl(v.url ?? process.env.TOLLGATE_URL ?? 'http://127.0.0.1:8080'), token };
}

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`missing ${what}; see tollgate --help`);
  return value;
}

/** A yes/no option: only `true` or `false`, so a typo cannot flip an account's state. */
function flag(name: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`${name} takes true or false, not "${value}"`);
}

function query(params: Record<string, string | boolean | undefined>): URLSearchParams {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (typeof v === 'string' && v !== '') q.set(k, v);
  return q;
}

/** A model id in an admin path: `provider/model` ids keep their slashes, as the route expects. */
function modelPath(id: string): string {
  return id.split('/').map(encodeURIComponent).join('/');
}

function print(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

async function main(argv: string[]): Promise<void> {
  const line = parseCommandLine(argv);
  if (!line) {
    process.stdout.write(HELP);
    return;
  }
  const { command, args, flags: v } = line;
  checkFlagValues(command, v);
  const [id] = args;
  const path = (prefix: string, suffix = '') => `${prefix}/${encodeURIComponent(id!)}${suffix}`;
  switch (command) {
    case 'serve':
      return (await import('./serve.ts')).serve(v.config);
    case 'demo':
      return (await import('./demo.ts')).demo();
    case 'ledger verify':
      process.exitCode = await (await import('./ledger-verify.ts')).ledgerVerify(v.config);
      return;
    case 'accounts create':
      return print(await adminCall(target(v), 'POST', '/accounts', { name: need(v.name, '--name'), ...(v.plan !== undefined ? { plan: v.plan } : {}) }));
    case 'accounts list':
      return print(await adminCall(target(v), 'GET', `/accounts?${query({ limit: v.limit, after: v.after })}`));
    case 'accounts get':
      return print(await adminCall(target(v), 'GET', path('/accounts')));
    case 'accounts update': {
      // What is given is sent as given (an empty --name is the API's 400, not ignored).
      const body: Record<string, unknown> = {};
      if (v.name !== undefined) body.name = v.name;
      if (v.plan !== undefined) body.plan = v.plan === 'none' ? null : v.plan;
      if (v.suspended !== undefined) body.suspended = flag('--suspended', v.suspended);
      if (Object.keys(body).length === 0) throw new UsageError('nothing to change: pass --name, --plan or --suspended');
      return print(await adminCall(target(v), 'PATCH', path('/accounts'), body));
    }
    case 'accounts credit': {
      const body: Record<string, unknown> = { amount_usd: need(v.amount, '--amount') };
      if (v.note !== undefined) body.note = v.note;
      return print(await adminCall(target(v), 'POST', path('/accounts', '/credits'), body));
    }
    case 'accounts adjust': {
      const body: Record<string, unknown> = { amount_usd: need(v.amount, '--amount'), reason: need(v.reason, '--reason') };
      const kind = oneOf('kind', v.kind, ['adjustment', 'refund'] as const);
      if (kind !== undefined) body.kind = kind;
      return print(await adminCall(target(v), 'POST', path('/accounts', '/adjustments'), body));
    }
    case 'accounts ledger':
      return print(await adminCall(target(v), 'GET', `${path('/accounts', '/ledger')}?${query({ limit: v.limit, before: v.before })}`));
    case 'accounts usage': {
      const q = query({ from: v.from, to: v.to, group_by: oneOf('group-by', v['group-by'], ['day', 'model', 'key'] as const) });
      return print(await adminCall(target(v), 'GET', `${path('/accounts', '/usage')}?${q}`));
    }
    case 'accounts limits':
      return print(await adminCall(target(v), 'GET', path('/accounts', '/limits')));
    case 'keys create': {
      const body: Record<string, unknown> = limitFields(v, KEY_LIMITS);
      if (v.name !== undefined) body.name = v.name;
      if (v['expires-at'] !== undefined) body.expires_at = v['expires-at'];
      return print(await adminCall(target(v), 'POST', path('/accounts', '/keys'), body));
    }
    case 'keys update': {
      const body: Record<string, unknown> = limitFields(v, KEY_LIMITS);
      if (v.name !== undefined) body.name = v.name;
      if (v['expires-at'] !== undefined) body.expires_at = v['expires-at'] === 'none' ? null : v['expires-at'];
      if (Object.keys(body).length === 0) throw new UsageError('nothing to change: pass --name, --expires-at or a limit');
      return print(await adminCall(target(v), 'PATCH', path('/keys'), body));
    }
    case 'keys list':
      return print(await adminCall(target(v), 'GET', `${path('/accounts', '/keys')}?${query({ limit: v.limit, after: v.after })}`));
    case 'keys revoke':
      return print(await adminCall(target(v), 'DELETE', path('/keys')));
    case 'requests get':
      return print(await adminCall(target(v), 'GET', path('/requests')));
    case 'usage': {
      const q = query({ from: v.from, to: v.to, group_by: oneOf('group-by', v['group-by'], ['day', 'model', 'key', 'account'] as const) });
      return print(await adminCall(target(v), 'GET', `/usage?${q}`));
    }
    case 'plans list':
      return print(await adminCall(target(v), 'GET', '/plans'));
    case 'plans get':
      return print(await adminCall(target(v), 'GET', path('/plans')));
    case 'plans create':
    case 'plans update': {
      const body: Record<string, unknown> = limitFields(v, PLAN_LIMITS);
      if (v.name !== undefined) body.name = v.name;
      if (command === 'plans create') return print(await adminCall(target(v), 'POST', '/plans', { id, ...body }));
      if (Object.keys(body).length === 0) throw new UsageError('nothing to change: pass --name or a limit');
      return print(await adminCall(target(v), 'PATCH', path('/plans'), body));
    }
    case 'prices get':
      return print(await adminCall(target(v), 'GET', `/models/${modelPath(id!)}/pricing`));
    case 'prices set': {
      const body: Record<string, unknown> = { input: need(v.input, '--input'), output: need(v.output, '--output') };
      if (v['cached-input'] !== undefined) body.cached_input = v['cached-input'];
      if (v['cache-write'] !== undefined) body.cache_write = v['cache-write'];
      return print(await adminCall(target(v), 'PUT', `/models/${modelPath(id!)}/pricing`, body));
    }
    case 'requests': {
      const q = query({ account_id: v.account, from: v.from, to: v.to, limit: v.limit, before: v.before });
      return print(await adminCall(target(v), 'GET', `/requests?${q}`));
    }
  }
  throw new UsageError(`unknown command: ${command}; see tollgate --help`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const msg = err instanceof ConfigError ? err.message : `tollgate: ${(err as Error).message}`;
  // exitCode rather than process.exit(), so the message is fully written wherever
  // stderr goes (on some platforms pipe writes are asynchronous).
  process.stderr.write(`${msg}\n`);
  process.exitCode = err instanceof ConfigError ? 78 : err instanceof UsageError ? 2 : 1;
  // Should a half-started gateway still hold a handle, do not hang: exit after a grace
  // period (unref'd, so it never delays a process that ends on its own).
  setTimeout(() => process.exit(), 2_000).unref();
});
