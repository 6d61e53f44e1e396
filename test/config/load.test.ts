import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, interpolate, loadConfig, validateConfig } from '../../src/config/load.ts';

// Loading the YAML config: ${ENV} interpolation, validation messages that name the bad
// path, cross-references, and the built-in catalog when nothing is configured.

const dir = mkdtempSync(join(tmpdir(), 'tollgate-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(yaml: string): string {
  const f = join(dir, `c${n++}.yaml`);
  writeFileSync(f, yaml);
  return f;
}

const PROVIDER = `
providers:
  - id: up
    kind: openai
    base_url: http://127.0.0.1:9/v1
    api_key: k
`;

/** Loads and expects a ConfigError whose message contains every fragment. */
function rejects(yaml: string, env: NodeJS.ProcessEnv, ...fragments: string[]): string {
  let message = '';
  assert.throws(
    () => loadConfig(file(yaml), env),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
      message = err.message;
      for (const f of fragments) assert.ok(message.includes(f), `message ${JSON.stringify(message)} names ${JSON.stringify(f)}`);
      return true;
    },
  );
  return message;
}

describe('YAML loading and ${ENV} interpolation', () => {
  test('a full config with ${VAR} and ${VAR:-default}', () => {
    const f = file(`
listen:
  host: \${HOST:-127.0.0.1}
  port: \${PORT}
storage: sqlite:\${DATA_DIR:-/tmp/tg}/tollgate.db
admin_token: \${ADMIN_TOKEN}
logging:
  level: \${LOG_LEVEL:-warn}
providers:
  - id: deepseek
    kind: openai
    base_url: https://\${DS_HOST:-api.deepseek.com}/v1
    api_key: \${DEEPSEEK_KEY}
    timeout_ms: \${DS_TIMEOUT:-30000}
    headers:
      x-team: "team-\${TEAM:-none}"
      x-empty: "\${NOTHING:-}"
models:
  - id: deepseek-v4-flash
    owned_by: deepseek
    upstreams: [{ provider: deepseek, model: deepseek-chat }]
    pricing: { input: 0.16, cached_input: "0.004", output: 0.3 }
`);
    const c = loadConfig(f, { PORT: '9191', ADMIN_TOKEN: 'admin-token-0123456789', DEEPSEEK_KEY: 'sk-ds-1', DS_HOST: 'proxy.example.com', TEAM: 'blue', LOG_LEVEL: '' });
    assert.equal(c.listen.host, '127.0.0.1');
    assert.equal(c.listen.port, 9191);
    assert.equal(c.storage, 'sqlite:/tmp/tg/tollgate.db');
    assert.equal(c.admin_token, 'admin-token-0123456789');
    assert.equal(c.logging.level, 'warn', 'an empty variable takes the default');
    const p = c.providers[0]!;
    assert.equal(p.base_url, 'https://proxy.example.com/v1');
    assert.equal(p.api_key, 'sk-ds-1');
    assert.equal(p.timeout_ms, 30000);
    assert.deepEqual(p.headers, { 'x-team': 'team-blue', 'x-empty': '' });
    const m = c.models[0]!;
    assert.deepEqual(m.pricing, { input: '0.16', cached_input: '0.004', output: '0.3' });
    assert.equal(m.type, 'chat');
    assert.deepEqual(m.upstreams, [{ provider: 'deepseek', model: 'deepseek-chat', weight: 1, priority: 0 }]);
  });

  test('interpolation touches values, never keys, and gives text', () => {
    const out = interpolate({ '${K}': '${V}', n: '${N}', b: '${B}', s: 'x${N}', list: ['${V}', 3] }, { K: 'key', V: 'value', N: '42', B: 'true' });
    assert.deepEqual(out, { '${K}': 'value', n: '42', b: 'true', s: 'x42', list: ['value', 3] });
  });

  test('a variable of digits is a number where the schema wants one and stays text where it wants text', () => {
    // A numeric header value or a key of digits became a number and failed with
    // "expected string, received number", and no quoting in the file could help.
    const c = loadConfig(file(`
listen: { port: "\${PORT}" }
providers:
  - id: up
    kind: openai
    base_url: http://127.0.0.1:9/v1
    api_key: \${KEY}
    timeout_ms: \${TIMEOUT}
    simulated: \${SIM}
    headers: { x-project-number: "\${PROJECT}" }
models:
  - { id: m, validate_json_schema: "\${CHECK}", upstreams: [{ provider: up, model: x, priority: "\${PRIO}" }] }
`), { PORT: '9292', KEY: '0123456789012345678901', TIMEOUT: '5000', SIM: 'true', PROJECT: '000123', CHECK: 'false', PRIO: '-1' });
    assert.equal(c.listen.port, 9292);
    const p = c.providers[0]!;
    assert.equal(p.api_key, '0123456789012345678901');
    assert.deepEqual(p.headers, { 'x-project-number': '000123' });
    assert.equal(p.timeout_ms, 5000);
    assert.equal(p.simulated, true);
    assert.equal(c.models[0]!.validate_json_schema, false);
    assert.equal(c.models[0]!.upstreams[0]!.priority, -1);
    rejects(`${PROVIDER}    timeout_ms: \${TIMEOUT}\n`, { TIMEOUT: '5s' }, 'providers[0].timeout_ms');
  });

  test('an unset variable without a default is an error naming the path and the variable', () => {
    rejects(`${PROVIDER}\nmodels:\n  - id: m\n    upstreams: [{ provider: up, model: "\${UPSTREAM_MODEL}" }]\n`, {}, 'models[0].upstreams[0].model', 'UPSTREAM_MODEL');
    rejects(`providers:\n  - id: up\n    kind: openai\n    base_url: http://x/v1\n    api_key: \${SECRET_KEY}\n`, {}, 'providers[0].api_key', 'SECRET_KEY');
  });

  test('$${ writes a literal ${; a ${ that is not a reference is an error naming the path, not a value kept as written', () => {
    // Neither existed: a value needing "${" (a password, a template header) could not be
    // written, and "${KEY" or the shell's "${KEY:default}" was sent upstream as those characters.
    // (Built without String.replace, which reads $$ itself.)
    const withKey = (value: string) => PROVIDER.split('api_key: k').join(`api_key: "${value}"`);
    const c = loadConfig(file(`${withKey('pa$$' + '{word}-$' + '{KEY}')}    headers: { x-template: "$$` + '{user}" }\n'), { KEY: 'v' });
    assert.equal(c.providers[0]!.api_key, 'pa${word}-v');
    assert.deepEqual(c.providers[0]!.headers, { 'x-template': '${user}' });
    for (const bad of ['\${KEY', '\${KEY:default}', '\${KEY-default}', '\${}', '\${1KEY}', 'x\${KEY:=y}']) {
      const message = rejects(withKey(`sk-live-abc0123456789${bad}`), { KEY: 'v' }, 'providers[0].api_key', '$${');
      assert.ok(!message.includes('sk-live'), message);
    }
  });

  test('a value from the environment is never quoted by a validation error, whatever field it lands in', () => {
    const SECRET = 'sk-proj-Zq8secretvalue0123456789';
    const env = { KEY: SECRET };
    // Quoted as JSON, a value with " or \ in it is escaped: hidden all the same.
    const ODD = 'sk-proj-abc"def\\ghijklmnop';
    const messages = [
      rejects(`${PROVIDER}\nmodels:\n  - id: m\n    upstreams: [{ provider: up, model: x }]\n    pricing: { input: "\${ODD}", output: 1 }\n`, { ODD }, 'models[0].pricing.input', '${ODD}'),
      rejects(`${PROVIDER}\nmodels:\n  - id: m\n    upstreams: [{ provider: "\${KEY}", model: x }]\n`, env, 'models[0].upstreams[0].provider'),
      rejects(`${PROVIDER}\nmodels:\n  - id: m\n    upstreams: [{ provider: up, model: x }]\n    pricing: { input: "\${KEY}", output: 1 }\n`, env, 'models[0].pricing.input'),
      rejects(`${PROVIDER}\nmodels:\n  - id: m\n    upstreams: [{ provider: up, model: x }]\nplans:\n  - { id: p, models: ["\${KEY}"] }\n`, env, 'plans[0].models[0]'),
      rejects(`${PROVIDER}  - id: \${KEY}\n    kind: openai\n    base_url: http://x/v1\n  - id: \${KEY}\n    kind: openai\n    base_url: http://x/v1\n`, env, 'providers[2].id'),
    ];
    for (const m of messages) assert.ok(!m.includes(SECRET) && !m.includes('secretvalue') && !m.includes('ghijklmnop'), m);
  });

  test('a ${VAR} in a flow mapping or list that YAML cannot read says to quote it', () => {
    const message = rejects(`listen: { port: \${PORT} }\n`, { PORT: '1' }, 'not valid YAML', 'quote');
    assert.equal(message.split('\n').length, 1, message);
  });

  test('a base_url part the upstream client would drop (query, credentials, fragment) is an error, and the credentials are not quoted', () => {
    const provider = (url: string) => `providers:\n  - id: up\n    kind: openai\n    base_url: ${url}\n    api_key: k\n`;
    rejects(provider('https://res.openai.azure.com/openai?api-version=2024-10-21'), {}, 'providers[0].base_url', 'query string');
    const m = rejects(provider('https://alice:hunter2secret@proxy.example.com/v1'), {}, 'providers[0].base_url', 'credentials');
    assert.ok(!m.includes('hunter2secret'), m);
    rejects(provider('https://proxy.example.com/v1#x'), {}, 'providers[0].base_url', 'fragment');
    assert.equal(loadConfig(file(provider('https://proxy.example.com:8443/v1/')), {}).providers[0]!.base_url, 'https://proxy.example.com:8443/v1/');
  });

  test('the environment provides admin token and secret when the file does not', () => {
    const c = loadConfig(file(PROVIDER), { TOLLGATE_ADMIN_TOKEN: 'env-admin-token-xyz-123', TOLLGATE_SECRET: 's'.repeat(40) });
    assert.equal(c.admin_token, 'env-admin-token-xyz-123');
    assert.equal(c.secret, 's'.repeat(40));
    const fromFile = loadConfig(file(`admin_token: file-admin-token-abc-123\n${PROVIDER}`), { TOLLGATE_ADMIN_TOKEN: 'env-admin-token-xyz-123' });
    assert.equal(fromFile.admin_token, 'file-admin-token-abc-123');
  });

  test('TOLLGATE_METRICS_TOKEN sets the metrics token when the file does not, as the admin token\'s variable does', () => {
    // It was read only through ${TOLLGATE_METRICS_TOKEN} in a file: a start on the
    // environment alone ignored it, and Prometheus got 401s with the token it was given.
    assert.equal(loadConfig(undefined, { TOLLGATE_METRICS_TOKEN: 'env-metrics-token-0123456789' }).metrics_token, 'env-metrics-token-0123456789');
    assert.equal(loadConfig(file(PROVIDER), { TOLLGATE_METRICS_TOKEN: 'env-metrics-token-0123456789' }).metrics_token, 'env-metrics-token-0123456789');
    const fromFile = loadConfig(file(`metrics_token: file-metrics-token-0123456789\n${PROVIDER}`), { TOLLGATE_METRICS_TOKEN: 'env-metrics-token-0123456789' });
    assert.equal(fromFile.metrics_token, 'file-metrics-token-0123456789');
    const message = rejects(PROVIDER, { TOLLGATE_METRICS_TOKEN: 'short-metrics' }, 'metrics_token', 'at least 16');
    assert.ok(!message.includes('short-metrics'), message);
  });

  test('TOLLGATE_HOST and TOLLGATE_PORT set where to listen unless the file does', () => {
    const c = loadConfig(file(PROVIDER), { TOLLGATE_HOST: '0.0.0.0', TOLLGATE_PORT: '9090' });
    assert.deepEqual([c.listen.host, c.listen.port], ['0.0.0.0', 9090]);
    const partly = loadConfig(file(`listen: { port: 7171 }\n${PROVIDER}`), { TOLLGATE_HOST: '0.0.0.0', TOLLGATE_PORT: '9090' });
    assert.deepEqual([partly.listen.host, partly.listen.port], ['0.0.0.0', 7171]);
    assert.equal(loadConfig(undefined, { TOLLGATE_PORT: '8181' }).listen.port, 8181);
    // The error names the variable: the file the operator reads has no listen.port.
    rejects(PROVIDER, { TOLLGATE_PORT: 'eighty' }, 'listen.port (from TOLLGATE_PORT):');
    rejects(PROVIDER, { TOLLGATE_PORT: '70000' }, 'listen.port (from TOLLGATE_PORT):');
    rejects(PROVIDER, { TOLLGATE_ADMIN_TOKEN: 'short' }, 'admin_token (from TOLLGATE_ADMIN_TOKEN):');
    const fromFile = rejects(`listen: { port: 70000 }\n${PROVIDER}`, { TOLLGATE_PORT: '9090' }, 'listen.port:');
    assert.ok(!fromFile.includes('TOLLGATE_PORT'), fromFile);
  });

  test('TOLLGATE_CONFIG names the file when no flag does', () => {
    const f = file(`listen: { port: 7171 }\n${PROVIDER}`);
    assert.equal(loadConfig(undefined, { TOLLGATE_CONFIG: f }).listen.port, 7171);
  });

  test('defaults', () => {
    const c = loadConfig(file(PROVIDER), {});
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: 8080 });
    assert.equal(c.storage, 'sqlite:./data/tollgate.db');
    assert.equal(c.key_prefix, 'sk-tg-');
    assert.equal(c.max_body_bytes, 10 * 1024 * 1024);
    assert.equal(c.providers[0]!.timeout_ms, 120_000);
    assert.equal(c.providers[0]!.simulated, false);
    assert.deepEqual(c.models, []);
  });
});

describe('config validation names the bad path', () => {
  const model = (pricing: string) => `${PROVIDER}\nmodels:\n  - id: m\n    upstreams: [{ provider: up, model: x }]\n    pricing: ${pricing}\n`;

  test('a bad price', () => {
    rejects(model('{ input: abc, output: 1 }'), {}, 'models[0].pricing.input');
    rejects(model('{ input: 0.1234567, output: 1 }'), {}, 'models[0].pricing.input', '6 decimal places');
    rejects(model('{ input: -1, output: 1 }'), {}, 'models[0].pricing.input');
    rejects(model('{ input: 1 }'), {}, 'models[0].pricing.output');
    rejects(model('{ input: 1, output: 1, surge: 2 }'), {}, 'models[0].pricing', 'surge');
  });

  test('every bad path is listed, not just the first', () => {
    const msg = rejects(
      `${PROVIDER}\nmodels:\n  - id: a\n    upstreams: [{ provider: up, model: x }]\n    pricing: { input: x, output: 1 }\n  - id: b\n    upstreams: [{ provider: up, model: x }]\n    pricing: { input: 1, output: y }\n`,
      {},
      'models[0].pricing.input',
      'models[1].pricing.output',
    );
    assert.match(msg, /^invalid config file /);
  });

  test('an unknown provider reference', () => {
    rejects(`${PROVIDER}\nmodels:\n  - id: m\n    upstreams: [{ provider: up, model: x }, { provider: nope, model: y }]\n`, {}, 'models[0].upstreams[1].provider', 'unknown provider "nope"');
  });

  test('duplicate ids', () => {
    rejects(`${PROVIDER}  - id: up\n    kind: openai\n    base_url: http://127.0.0.1:10/v1\n`, {}, 'providers[1].id', 'duplicate provider id "up"');
    rejects(`${PROVIDER}\nmodels:\n  - id: m\n    upstreams: [{ provider: up, model: x }]\n  - id: m\n    upstreams: [{ provider: up, model: y }]\n`, {}, 'models[1].id', 'duplicate model id "m"');
    rejects(`${PROVIDER}\nplans:\n  - id: p\n  - id: p\n`, {}, 'plans[1].id', 'duplicate plan id "p"');
  });

  test('a model id that is another model\'s owner/id form is refused: requests and plans naming it reached one of the two without a word', () => {
    const m = rejects(
      `${PROVIDER}\nmodels:\n  - { id: claude-sonnet, owned_by: anthropic, upstreams: [{ provider: up, model: x }] }\n  - { id: anthropic/claude-sonnet, upstreams: [{ provider: up, model: y }] }\n`,
      {},
      'models[1].id',
      'models[0]',
    );
    assert.match(m, /owner\/id/);
    // Distinct owners are fine.
    loadConfig(file(`${PROVIDER}\nmodels:\n  - { id: claude-sonnet, owned_by: anthropic, upstreams: [{ provider: up, model: x }] }\n  - { id: openrouter/claude-sonnet, upstreams: [{ provider: up, model: y }] }\n`), {});
  });

  test('other bad values', () => {
    rejects(`listen: { port: 70000 }\n${PROVIDER}`, {}, 'listen.port');
    rejects(`storage: postgres://db/x\n${PROVIDER}`, {}, 'storage');
    rejects(`admin_token: short\n${PROVIDER}`, {}, 'admin_token', 'at least 16');
    rejects(`providers:\n  - id: up\n    kind: carrier-pigeon\n    base_url: http://x/v1\n`, {}, 'providers[0].kind');
    rejects(`providers:\n  - id: up\n    kind: openai\n    base_url: not a url\n`, {}, 'providers[0].base_url');
    rejects(`${PROVIDER}\nmodels:\n  - id: m\n    upstreams: []\n`, {}, 'models[0].upstreams');
    rejects(`${PROVIDER}\nmodels:\n  - id: m\n    type: image\n    upstreams: [{ provider: up, model: x }]\n`, {}, 'models[0].type');
    rejects(`listen_port: 1\n${PROVIDER}`, {}, 'listen_port');
  });

  test('an empty listen.host is refused: Node would listen on every interface', () => {
    // `host: \${HOST:-}` with HOST unset gave "", and the admin API answered on 0.0.0.0.
    rejects(`listen: { host: "\${HOST:-}" }\n${PROVIDER}`, {}, 'listen.host', 'must not be empty');
    assert.equal(loadConfig(file(`listen: { host: 0.0.0.0 }\n${PROVIDER}`), {}).listen.host, '0.0.0.0', 'every interface, when asked for');
  });

  test('waits longer than a Node timer holds are refused (setTimeout would fire after 1 ms)', () => {
    const TOO_LONG = 2_147_483_648;
    rejects(`${PROVIDER}    timeout_ms: ${TOO_LONG}\n`, {}, 'providers[0].timeout_ms', 'at most 2147483647');
    rejects(`${PROVIDER}    breaker: { cooldown_ms: ${TOO_LONG} }\n`, {}, 'providers[0].breaker.cooldown_ms');
    rejects(`flush_interval_ms: ${TOO_LONG}\n${PROVIDER}`, {}, 'flush_interval_ms');
    rejects(`request_timeout_ms: ${TOO_LONG}\n${PROVIDER}`, {}, 'request_timeout_ms');
    assert.equal(loadConfig(file(`${PROVIDER}    timeout_ms: ${TOO_LONG - 1}\n`), {}).providers[0]!.timeout_ms, TOO_LONG - 1);
  });

  test('a plan naming a model that is not configured is refused; patterns and owner/id forms are fine', () => {
    const MODEL = `${PROVIDER}\nmodels:\n  - { id: flash, owned_by: deepseek, upstreams: [{ provider: up, model: x }] }\n`;
    rejects(`${MODEL}plans:\n  - { id: basic, models: [flash, flsh] }\n`, {}, 'plans[0].models[1]', 'unknown model "flsh"');
    const c = loadConfig(file(`${MODEL}plans:\n  - { id: basic, models: [flash, deepseek/flash, "gpt-*"] }\n`), {});
    assert.deepEqual(c.plans[0]!.models, ['flash', 'deepseek/flash', 'gpt-*']);
  });

  test('a key or header the upstream client cannot send is refused at start, without quoting it', () => {
    // Accepted before, then every request to the provider was a 502 "could not be reached".
    const message = rejects(`${PROVIDER.replace('api_key: k', 'api_key: "${KEY}"')}`, { KEY: 'sk-live-abcdef0123456789\r' }, 'providers[0].api_key', 'must not contain a line break');
    assert.ok(!message.includes('sk-live'), message);
    rejects(`${PROVIDER}    headers: { "x project": "1" }\n`, {}, 'providers[0].headers.x project: not a valid HTTP header name');
    rejects(`${PROVIDER}    headers: { x-team: "a\\nb" }\n`, {}, 'providers[0].headers.x-team', 'must not contain a line break');
    assert.deepEqual(loadConfig(file(`${PROVIDER}    headers: { x-team: "blue team" }\n`), {}).providers[0]!.headers, { 'x-team': 'blue team' });
  });

  test('an admin token that could never be presented is refused, without quoting it', () => {
    // The admin API trims what it is sent, so "token\r" from a .env file locked the operator out.
    const message = rejects(PROVIDER, { TOLLGATE_ADMIN_TOKEN: 'admin-token-0123456789\r' }, 'admin_token', 'must not contain spaces');
    assert.ok(!message.includes('admin-token-0123'), message);
    rejects(`admin_token: "admin token 0123456789"\n${PROVIDER}`, {}, 'admin_token');
  });

  test('a YAML syntax error says what and where, without quoting the file (a key may be on that line)', () => {
    const message = rejects(`providers:\n  - id: up\n    api_key: "sk-live-abcdef0123456789\n`, {}, 'not valid YAML', 'line');
    assert.ok(!message.includes('sk-live'), message);
    assert.equal(message.split('\n').length, 1, message);
  });

  test('unreadable, non-YAML and non-mapping files', () => {
    assert.throws(() => loadConfig(join(dir, 'missing.yaml'), {}), (e: unknown) => e instanceof ConfigError && /cannot read config file .*missing\.yaml: ENOENT/.test(e.message));
    rejects('providers: [\n  - id: "', {}, 'not valid YAML');
    rejects('- a\n- b\n', {}, 'must be a YAML mapping');
  });

  test('an empty config file is an error, not a start on every default (another database, a new admin token)', () => {
    // A config mount that came up empty started a gateway on ./data/tollgate.db with a
    // freshly printed admin token: every customer's key was unknown there.
    rejects('', {}, 'is empty');
    rejects('# only comments\n\n', {}, 'is empty');
    assert.equal(loadConfig(file('{}\n'), {}).storage, 'sqlite:./data/tollgate.db', 'an explicit empty mapping takes the defaults');
  });

  test('validateConfig reports the root for a wrong top-level type', () => {
    assert.throws(() => validateConfig('nope', 'cfg'), (e: unknown) => e instanceof ConfigError && e.message.startsWith('invalid cfg:') && e.message.includes('(root)'));
  });
});

describe('the built-in catalog when nothing is configured', () => {
  test('no providers and no provider keys: no models', () => {
    const c = loadConfig(undefined, {});
    assert.deepEqual(c.providers, []);
    assert.deepEqual(c.models, []);
  });

  test('a provider key in the environment brings that provider and its models', () => {
    const c = loadConfig(undefined, { DEEPSEEK_API_KEY: 'sk-ds-test' });
    assert.deepEqual(c.providers.map((p) => p.id), ['deepseek']);
    assert.equal(c.providers[0]!.api_key, 'sk-ds-test');
    assert.ok(c.models.length > 0);
    for (const m of c.models) {
      assert.equal(m.upstreams[0]!.provider, 'deepseek');
      assert.ok(m.pricing, `${m.id} has prices`);
    }
  });

  test('a config file without providers or models also gets the catalog', () => {
    const c = loadConfig(file('listen: { port: 0 }\n'), { OPENAI_API_KEY: 'sk-oa', MOONSHOT_API_KEY: 'sk-ms' });
    assert.deepEqual(c.providers.map((p) => p.id).sort(), ['moonshot', 'openai']);
  });

  test('a file that lists providers does not get the catalog mixed in', () => {
    const c = loadConfig(file(PROVIDER), { OPENAI_API_KEY: 'sk-oa' });
    assert.deepEqual(c.providers.map((p) => p.id), ['up']);
  });
});
