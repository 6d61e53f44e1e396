import { parseArgs } from 'node:util';
import { ConfigError } from '../config/load.ts';
import { adminCall, type AdminTarget } from './admin-client.ts';

const HELP = `tollgate — an OpenAI-compatible LLM API gateway

Usage:
  tollgate serve [--config FILE]        start the gateway (default 127.0.0.1:8080, SQLite in ./data)
  tollgate demo                         start the gateway beside a simulated upstream and show how to call it
  tollgate ledger verify [--config FILE] check that every balance equals the sum of its ledger (exit 1 if not)

Admin commands (talk to a running gateway; --url or TOLLGATE_URL, --admin-token or TOLLGATE_ADMIN_TOKEN):
  tollgate accounts create --name NAME [--plan PLAN]
  tollgate accounts list [--limit N] [--after ACCOUNT_ID]
  tollgate accounts get ACCOUNT_ID
  tollgate accounts update ACCOUNT_ID [--name NAME] [--plan PLAN] [--suspended true|false]
  tollgate keys create ACCOUNT_ID [--name NAME] [--expires-at ISO8601]
  tollgate keys list ACCOUNT_ID
  tollgate keys revoke KEY_ID
  tollgate requests [--account ACCOUNT_ID] [--from ISO8601] [--to ISO8601] [--limit N] [--before REQUEST_ID]
  tollgate requests get REQUEST_ID      one request (the x-request-id a customer quotes), with its ledger entries

Lists answer {data, has_more}; the next page starts --after (accounts) or --before
(requests) the last id shown.
`;

const options = {
  config: { type: 'string' },
  url: { type: 'string' },
  'admin-token': { type: 'string' },
  name: { type: 'string' },
  plan: { type: 'string' },
  suspended: { type: 'string' },
  'expires-at': { type: 'string' },
  account: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  limit: { type: 'string' },
  after: { type: 'string' },
  before: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function target(v: Record<string, string | boolean | undefined>): AdminTarget {
  const token = (v['admin-token'] as string | undefined) ?? process.env.TOLLGATE_ADMIN_TOKEN;
  if (!token) throw new Error('an admin token is needed: pass --admin-token or set TOLLGATE_ADMIN_TOKEN');
  return { url: (v.url as string | undefined) ?? process.env.TOLLGATE_URL ?? 'http://127.0.0.1:8080', token };
}

function need(value: string | undefined, what: string): string {
  if (!value) throw new Error(`missing ${what}; see tollgate --help`);
  return value;
}

/** A yes/no option: only `true` or `false`, so a typo cannot flip an account's state. */
function flag(name: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new Error(`${name} takes true or false, not "${value}"`);
}

function query(params: Record<string, string | boolean | undefined>): URLSearchParams {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (typeof v === 'string' && v !== '') q.set(k, v);
  return q;
}

function print(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

async function main(argv: string[]): Promise<void> {
  const { values: v, positionals: p } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  const [cmd, sub, arg] = p;
  if (v.help || !cmd || cmd === 'help') {
    process.stdout.write(HELP);
    return;
  }
  switch (cmd) {
    case 'serve':
      return (await import('./serve.ts')).serve(v.config);
    case 'demo':
      return (await import('./demo.ts')).demo();
    case 'ledger':
      if (sub === 'verify') {
        process.exitCode = await (await import('./ledger-verify.ts')).ledgerVerify(v.config);
        return;
      }
      break;
    case 'accounts': {
      const t = target(v);
      if (sub === 'create') return print(await adminCall(t, 'POST', '/accounts', { name: need(v.name, '--name'), ...(v.plan ? { plan: v.plan } : {}) }));
      if (sub === 'list') return print(await adminCall(t, 'GET', `/accounts?${query({ limit: v.limit, after: v.after })}`));
      if (sub === 'get') return print(await adminCall(t, 'GET', `/accounts/${encodeURIComponent(need(arg, 'ACCOUNT_ID'))}`));
      if (sub === 'update') {
        const body: Record<string, unknown> = {};
        if (v.name) body.name = v.name;
        if (v.plan) body.plan = v.plan;
        if (v.suspended !== undefined) body.suspended = flag('--suspended', v.suspended);
        return print(await adminCall(t, 'PATCH', `/accounts/${encodeURIComponent(need(arg, 'ACCOUNT_ID'))}`, body));
      }
      break;
    }
    case 'keys': {
      const t = target(v);
      if (sub === 'create') {
        const body: Record<string, unknown> = {};
        if (v.name) body.name = v.name;
        if (v['expires-at']) body.expires_at = v['expires-at'];
        return print(await adminCall(t, 'POST', `/accounts/${encodeURIComponent(need(arg, 'ACCOUNT_ID'))}/keys`, body));
      }
      if (sub === 'list') return print(await adminCall(t, 'GET', `/accounts/${encodeURIComponent(need(arg, 'ACCOUNT_ID'))}/keys`));
      if (sub === 'revoke') return print(await adminCall(t, 'DELETE', `/keys/${encodeURIComponent(need(arg, 'KEY_ID'))}`));
      break;
    }
    case 'requests': {
      if (sub === 'get') return print(await adminCall(target(v), 'GET', `/requests/${encodeURIComponent(need(arg, 'REQUEST_ID'))}`));
      const q = query({ account_id: v.account, from: v.from, to: v.to, limit: v.limit, before: v.before });
      return print(await adminCall(target(v), 'GET', `/requests?${q}`));
    }
  }
  throw new Error(`unknown command: ${p.join(' ')}; see tollgate --help`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const msg = err instanceof ConfigError ? err.message : `tollgate: ${(err as Error).message}`;
  // exitCode rather than process.exit(), so the message is fully written wherever
  // stderr goes (on some platforms pipe writes are asynchronous).
  process.stderr.write(`${msg}\n`);
  process.exitCode = err instanceof ConfigError ? 78 : 1;
  // Should a half-started gateway still hold a handle, do not hang: exit after a grace
  // period (unref'd, so it never delays a process that ends on its own).
  setTimeout(() => process.exit(), 2_000).unref();
});
