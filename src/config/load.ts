import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config } from './schema.ts';
import { catalogFromEnv } from './catalog.ts';

export class ConfigError extends Error {}

// `$${` is a literal `${`; `${NAME}` and `${NAME:-default}` are references; any other
// `${` is an error, not text: `${KEY` or the shell's `${KEY:default}` used to reach the
// upstream as those very characters.
const ANY_VAR = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{/g;

/** The environment values a load substituted, so that no error quotes them. */
type Used = Map<string, string>;

/** Replaces ${VAR} and ${VAR:-default} in every string value (never in keys); values stay text. */
export function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: string[] = [], used: Used = new Map()): unknown {
  if (typeof value === 'string') {
    // Always text: the schema reads digits as a number where it wants one (port: ${PORT}),
    // and a string field keeps them as written (a header value 0123, a key of digits).
    return value.replace(ANY_VAR, (m, name: string | undefined, def: string | undefined) => {
      if (m === '$${') return '${';
      if (name === undefined) throw new ConfigError(`config error at ${formatPath(path)}: a \${ that is not \${NAME} or \${NAME:-default} (write $\${ for a literal \${)`);
      return lookup(name, def, env, path, used);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, String(i)], used));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, [...path, k], used);
    return out;
  }
  return value;
}

function lookup(name: string, def: string | undefined, env: NodeJS.ProcessEnv, path: string[], used: Used): string {
  const v = env[name];
  if (v !== undefined && v !== '') {
    used.set(name, v);
    return v;
  }
  if (def !== undefined) return def;
  throw new ConfigError(`config error at ${formatPath(path)}: environment variable ${name} is not set (write \${${name}:-} to allow it to be empty)`);
}

/**
 * The message with every value taken from the environment replaced by its name. A
 * validation message may quote what it refuses (`unknown plan "..."`, a price it cannot
 * read), and a secret interpolated into the wrong field would be printed to the
 * terminal and the supervisor's log. Values under 8 characters (a port, `true`) are not
 * secrets and are left, so the message stays readable.
 */
function withoutEnvValues(message: string, used: Used): string {
  const byLength = [...used].filter(([, v]) => v.length >= 8).sort((a, b) => b[1].length - a[1].length);
  // The first line names the file, which is not the environment's to hide.
  const nl = message.indexOf('\n');
  if (nl === -1) return message;
  let issues = message.slice(nl);
  for (const [name, v] of byLength) {
    issues = issues.replaceAll(v, `\${${name}}`);
    // A message may quote a value as JSON (a price it cannot read): its `"` and `\` escaped.
    const escaped = JSON.stringify(v).slice(1, -1);
    if (escaped !== v) issues = issues.replaceAll(escaped, `\${${name}}`);
  }
  return message.slice(0, nl) + issues;
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' || /^\d+$/.test(String(p)) ? `[${String(p)}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

/** Validates a raw object; throws ConfigError naming every bad path. */
export function validateConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    // A bad mapping key (a header name) says why, not only "Invalid key in record".
    const lines = result.error.issues.map((i) => `  ${formatPath(i.path)}: ${i.code === 'invalid_key' ? (i.issues[0]?.message ?? i.message) : i.message}`);
    throw new ConfigError(`invalid ${source}:\n${lines.join('\n')}`);
  }
  return result.data;
}

/** The config file as YAML, not yet interpolated or validated. */
function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    // The parser's message goes on to quote the offending lines, which may hold a key
    // written into the file: only its first line (what is wrong, and where) is shown.
    const what = (err as Error).message.split('\n')[0]!.replace(/:$/, '');
    throw new ConfigError(`config file ${path} is not valid YAML: ${what}${flowHint(text, err)}`);
  }
  // An empty file (a config mount that came up empty, a truncated write) would start on
  // every default: another database, and a new admin token printed for it.
  if (parsed === null || parsed === undefined) throw new ConfigError(`config file ${path} is empty (write {} to start on the defaults)`);
  if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
    throw new ConfigError(`config file ${path} must be a YAML mapping at the top level`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Why YAML could not read a `${VAR}` in a flow mapping or list (`{ port: ${PORT} }`):
 * there `{` opens a mapping. Said only when the line it names holds a `${`; the line
 * itself is not quoted (it may hold a key).
 */
function flowHint(text: string, err: unknown): string {
  const line = (err as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line;
  if (line === undefined || !text.split('\n')[line - 1]?.includes('${')) return '';
  return ' (a ${VAR} inside { } or [ ] must be quoted: "${VAR}")';
}

/**
 * The storage setting alone, for commands that only open the store (`ledger verify`):
 * a provider's key that is not set in the operator's shell must not stop them.
 */
export function loadStorage(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const path = file ?? env.TOLLGATE_CONFIG;
  const raw = path ? readConfigFile(path) : {};
  const storage = raw.storage === undefined ? undefined : interpolate(raw.storage, env, ['storage']);
  const result = configSchema.shape.storage.safeParse(storage);
  if (!result.success) throw new ConfigError(`invalid ${path ? `config file ${path}` : 'configuration'}:\n  storage: ${result.error.issues[0]!.message}`);
  return result.data;
}

/**
 * Loads the config file if one is named (flag or TOLLGATE_CONFIG); otherwise starts from
 * nothing. A config that lists no providers and no models gets the built-in catalog for
 * every provider whose API key is in the environment.
 */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  const path = file ?? env.TOLLGATE_CONFIG;
  const used: Used = new Map();
  const raw = path ? (interpolate(readConfigFile(path), env, [], used) as Record<string, unknown>) : {};
  // An empty value (`${TOLLGATE_ADMIN_TOKEN:-}`) means "not set".
  for (const k of ['admin_token', 'secret', 'metrics_token'] as const) if (raw[k] === '' || raw[k] === null) delete raw[k];
  // Which settings came from a TOLLGATE_* variable, for messages: the operator's file has no such key.
  const fromVariable = new Map<string, string>();
  for (const [k, name] of [['admin_token', 'TOLLGATE_ADMIN_TOKEN'], ['secret', 'TOLLGATE_SECRET'], ['metrics_token', 'TOLLGATE_METRICS_TOKEN']] as const) {
    if (raw[k] === undefined && env[name]) {
      raw[k] = env[name];
      fromVariable.set(k, name);
    }
  }
  // Where to listen, for containers and platforms that hand the address in the environment;
  // the config file's own listen keys win, and a `listen` that is not a mapping is left
  // for validation to report.
  const fileListen = raw.listen ?? {};
  if ((env.TOLLGATE_HOST || env.TOLLGATE_PORT) && typeof fileListen === 'object' && !Array.isArray(fileListen)) {
    const listen: Record<string, unknown> = { ...fileListen };
    if (listen.host === undefined && env.TOLLGATE_HOST) {
      listen.host = env.TOLLGATE_HOST;
      fromVariable.set('listen.host', 'TOLLGATE_HOST');
    }
    if (listen.port === undefined && env.TOLLGATE_PORT) {
      listen.port = env.TOLLGATE_PORT;
      fromVariable.set('listen.port', 'TOLLGATE_PORT');
    }
    raw.listen = listen;
  }
  if (raw.providers === undefined && raw.models === undefined) {
    const catalog = catalogFromEnv(env);
    raw.providers = catalog.providers;
    raw.models = catalog.models;
  }
  // What the environment supplies directly is kept from messages as well.
  for (const [name, v] of Object.entries(env)) if (v && /^TOLLGATE_(ADMIN_TOKEN|SECRET|METRICS_TOKEN)$|_API_KEY$/.test(name)) used.set(name, v);
  try {
    return validateConfig(raw, path ? `config file ${path}` : 'configuration');
  } catch (err) {
    if (err instanceof ConfigError) {
      err.message = withoutEnvValues(err.message, used);
      for (const [key, name] of fromVariable) err.message = err.message.replaceAll(`\n  ${key}: `, `\n  ${key} (from ${name}): `);
    }
    throw err;
  }
}
