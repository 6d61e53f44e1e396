import { parseArgs } from 'node:util';

// What each `tollgate` command accepts, checked before anything runs: a flag that does
// not apply (`accounts create --name x --suspended true`) or a word too many
// (`requests gte req_...`) is an error, not silently ignored while the command does
// something else.

const ADMIN = ['url', 'admin-token'];
/** A key's own limits, overriding its plan's. */
export const KEY_LIMITS = ['models', 'rpm', 'tpm', 'daily-tokens'] as const;
export const PLAN_LIMITS = ['models', 'context-tokens', 'max-output-tokens', 'concurrency', 'rpm', 'tpm', 'daily-tokens'] as const;

interface CommandSpec {
  /** Positional arguments after the command words, all required. */
  args: string[];
  flags: readonly string[];
}

const COMMANDS: Record<string, CommandSpec> = {
  serve: { args: [], flags: ['config'] },
  demo: { args: [], flags: [] },
  'ledger verify': { args: [], flags: ['config'] },
  'accounts create': { args: [], flags: ['name', 'plan', ...ADMIN] },
  'accounts list': { args: [], flags: ['limit', 'after', ...ADMIN] },
  'accounts get': { args: ['ACCOUNT_ID'], flags: ADMIN },
  'accounts update': { args: ['ACCOUNT_ID'], flags: ['name', 'plan', 'suspended', ...ADMIN] },
  'accounts credit': { args: ['ACCOUNT_ID'], flags: ['amount', 'note', ...ADMIN] },
  'accounts adjust': { args: ['ACCOUNT_ID'], flags: ['amount', 'reason', 'kind', ...ADMIN] },
  'accounts ledger': { args: ['ACCOUNT_ID'], flags: ['limit', 'before', ...ADMIN] },
  'accounts usage': { args: ['ACCOUNT_ID'], flags: ['from', 'to', 'group-by', ...ADMIN] },
  'accounts limits': { args: ['ACCOUNT_ID'], flags: ADMIN },
  'keys create': { args: ['ACCOUNT_ID'], flags: ['name', 'expires-at', ...KEY_LIMITS, ...ADMIN] },
  'keys list': { args: ['ACCOUNT_ID'], flags: ['limit', 'after', ...ADMIN] },
  'keys update': { args: ['KEY_ID'], flags: ['name', 'expires-at', ...KEY_LIMITS, ...ADMIN] },
  'keys revoke': { args: ['KEY_ID'], flags: ADMIN },
  requests: { args: [], flags: ['account', 'from', 'to', 'limit', 'before', ...ADMIN] },
  'requests get': { args: ['REQUEST_ID'], flags: ADMIN },
  usage: { args: [], flags: ['from', 'to', 'group-by', ...ADMIN] },
  'plans list': { args: [], flags: ADMIN },
  'plans get': { args: ['PLAN_ID'], flags: ADMIN },
  'plans create': { args: ['PLAN_ID'], flags: ['name', ...PLAN_LIMITS, ...ADMIN] },
  'plans update': { args: ['PLAN_ID'], flags: ['name', ...PLAN_LIMITS, ...ADMIN] },
  'prices get': { args: ['MODEL_ID'], flags: ADMIN },
  'prices set': { args: ['MODEL_ID'], flags: ['input', 'output', 'cached-input', 'cache-write', ...ADMIN] },
};

const OPTIONS = {
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
  amount: { type: 'string' },
  note: { type: 'string' },
  reason: { type: 'string' },
  kind: { type: 'string' },
  'group-by': { type: 'string' },
  models: { type: 'string' },
  'context-tokens': { type: 'string' },
  'max-output-tokens': { type: 'string' },
  concurrency: { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  'daily-tokens': { type: 'string' },
  input: { type: 'string' },
  output: { type: 'string' },
  'cached-input': { type: 'string' },
  'cache-write': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Every command, as typed after `tollgate` (the help lists each one). */
export function commandNames(): string[] {
  return Object.keys(COMMANDS);
}

/** The command line itself is wrong (exit 2, as for other Unix tools): a script can tell it from the gateway's refusal (1). */
export class UsageError extends Error {}

export type Flags = Partial<Record<Exclude<keyof typeof OPTIONS, 'help'>, string>>;

export interface CommandLine {
  command: string;
  args: string[];
  flags: Flags;
}

/** Parses argv into one known command, its arguments and flags (null: show the help); throws a one-line error otherwise. */
export function parseCommandLine(argv: string[]): CommandLine | null {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals: p } = parsed;
  if (values.help || p.length === 0 || p[0] === 'help') return null;
  const command = p.length > 1 && COMMANDS[`${p[0]} ${p[1]}`] ? `${p[0]} ${p[1]}` : p[0]!;
  const spec = COMMANDS[command];
  if (!spec) throw new UsageError(`unknown command: ${p.join(' ')}; see tollgate --help`);
  const args = p.slice(command.split(' ').length);
  if (args.length < spec.args.length) throw new UsageError(`missing ${spec.args[args.length]}; see tollgate --help`);
  if (args.length > spec.args.length) throw new UsageError(`unexpected argument "${args[spec.args.length]}" to tollgate ${command}; see tollgate --help`);
  const { help: _help, ...flags } = values;
  for (const name of Object.keys(flags)) {
    if (!spec.flags.includes(name)) throw new UsageError(`--${name} does not apply to tollgate ${command}; see tollgate --help`);
  }
  return { command, args, flags };
}
