// The things the bench measures, each behind one interface:
//   direct  - wrk straight to the fake upstream (the ceiling)
//   nginx   - nginx as a plain reverse proxy to it (what a relay in C costs here)
//   bare    - a bare node:http + undici relay (what any Node relay costs here)
//   gateway - Tollgate (bin/tollgate.js serve) relaying to the fake upstream
//   peer    - @portkey-ai/gateway relaying to the same fake upstream

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, pinned, startChild, waitForHttp, type Child } from './children.ts';

export type TargetName = 'direct' | 'nginx' | 'bare' | 'gateway' | 'peer';
export const TARGET_NAMES: readonly TargetName[] = ['direct', 'nginx', 'bare', 'gateway', 'peer'];

export const UPSTREAM_MODEL = 'bench-upstream-model';
export const GATEWAY_MODEL = 'bench-model';
export const UPSTREAM_KEY = 'sk-upstream-bench';

export interface Target {
  name: TargetName;
  url: string;
  headers: Record<string, string>;
  /** The client request body: the same for every target except the model name. */
  body(stream: boolean): string;
  /** Extra facts for the JSON report (ports, versions). */
  info: Record<string, unknown>;
  /** The process the bench started for this target (nginx: its master); none for direct. */
  pid?: number;
  stop(): Promise<void>;
}

export interface TargetContext {
  repoRoot: string;
  tmpDir: string;
  upstreamPort: number;
  /** Core for the gateway/peer under test, or null when not pinning. */
  core: number | null;
  gatewayLogLevel?: string;
  /** Extra flags for every Node process (--node-flags). */
  nodeFlags: string[];
  /** When set, the gateway runs with --cpu-prof and writes its profile here on exit. */
  gatewayProfileDir?: string;
  /** 0: the one-word request; otherwise a conversation of about this many bytes. */
  promptBytes: number;
  /** Extra top-level YAML lines for the gateway's config (experiments). */
  gatewayConfigLines?: string[];
  /** A command the bare relay and the gateway run under (bench/callgrind.ts: valgrind), and how long they may take to start. */
  wrapper?: { argv: string[]; startTimeoutMs: number };
}

/** `node args` pinned to the context's core, under its wrapper if any. */
function nodeCommand(ctx: TargetContext, args: string[]): { cmd: string; args: string[] } {
  const argv = [...(ctx.wrapper?.argv ?? []), process.execPath, ...args];
  return pinned(ctx.core, argv[0]!, argv.slice(1));
}

/**
 * A coding-assistant conversation of about `bytes` bytes of JSON: code full of quotes
 * and newlines, which is what a JSON parser (and any re-serialisation) meets from
 * Cursor, Aider or Continue. Ends with the user's turn.
 */
export function conversation(bytes: number): Array<{ role: string; content: string }> {
  const messages = [{ role: 'system', content: 'You are a careful coding assistant. Answer with code.' }];
  let size = JSON.stringify(messages).length;
  for (let i = 0; size < bytes || messages.at(-1)!.role !== 'user'; i++) {
    const content =
      i % 2 === 0
        ? `Fix this:\n\`\`\`ts\nfunction f${i}(a: string) {\n  return a === "x" ? \`\${a}!\` : null;\n}\n\`\`\`\n`.repeat(6)
        : 'Here is the fix: compare with "x" after trimming, and return "" instead of null.\n'.repeat(4);
    const m = { role: i % 2 === 0 ? 'user' : 'assistant', content };
    messages.push(m);
    size += JSON.stringify(m).length + 1;
  }
  return messages;
}

function chatBody(model: string, stream: boolean, promptBytes: number): string {
  const body: Record<string, unknown> = {
    model,
    messages: promptBytes > 0 ? conversation(promptBytes) : [{ role: 'user', content: 'hi' }],
    max_tokens: 64,
  };
  if (stream) body.stream = true;
  return JSON.stringify(body);
}

/** The fake upstream (bench/fake-upstream.ts) on a free port, pinned to `core`, once it answers /healthz. */
export async function startUpstream(repoRoot: string, tmpDir: string, core: number | null, nodeFlags: string[]): Promise<{ child: Child; port: number }> {
  const port = await freePort();
  const { cmd, args } = pinned(core, process.execPath, [...nodeFlags, path.join(repoRoot, 'bench/fake-upstream.ts'), '--port', String(port)]);
  const child = startChild('fake upstream', cmd, args, { logPath: path.join(tmpDir, 'upstream.log') });
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, child, { timeoutMs: 15_000, ok: (s) => s === 200 });
  return { child, port };
}

export function directTarget(ctx: TargetContext): Target {
  return {
    name: 'direct',
    url: `http://127.0.0.1:${ctx.upstreamPort}/v1/chat/completions`,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${UPSTREAM_KEY}` },
    body: (stream) => chatBody(UPSTREAM_MODEL, stream, ctx.promptBytes),
    info: { port: ctx.upstreamPort },
    stop: async () => {},
  };
}

/**
 * A relay (bare or nginx) started on `port` in front of the fake upstream: it answers
 * /healthz through to the upstream once it is up, and takes the upstream's own request.
 */
async function startRelay(ctx: TargetContext, name: 'bare' | 'nginx', port: number, command: { cmd: string; args: string[] }, info: Record<string, unknown>): Promise<Target> {
  const child = startChild(name, command.cmd, command.args, { logPath: path.join(ctx.tmpDir, `${name}.log`) });
  try {
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, child, { timeoutMs: ctx.wrapper?.startTimeoutMs ?? 15_000, ok: (s) => s === 200 });
  } catch (err) {
    await child.stop();
    throw err;
  }
  return {
    name,
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${UPSTREAM_KEY}` },
    body: (stream) => chatBody(UPSTREAM_MODEL, stream, ctx.promptBytes),
    info: { port, ...info, log: child.logPath },
    pid: child.proc.pid,
    stop: () => child.stop(),
  };
}

/** The floor: a bare node:http + undici relay (bench/bare-relay.ts), as in PEERS.md. */
export async function startBare(ctx: TargetContext): Promise<Target> {
  const port = await freePort();
  const args = [...ctx.nodeFlags, path.join(ctx.repoRoot, 'bench/bare-relay.ts'), '--port', String(port), '--upstream-port', String(ctx.upstreamPort)];
  return startRelay(ctx, 'bare', port, nodeCommand(ctx, args), {});
}

/** The nginx binary, when installed (Debian: `apt-get install nginx-light`). */
export function nginxBinary(): string | null {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx']) {
    if (fs.existsSync(candidate)) return candidate;
  }
  return null;
}

/**
 * nginx as a reverse proxy with upstream keep-alive and no buffering, as in PEERS.md:
 * a relay with none of Node's costs, so nginx/direct says how much of the direct
 * figure any relay can keep on this machine today, and bare/nginx what Node costs.
 */
export async function startNginx(ctx: TargetContext): Promise<Target> {
  const bin = nginxBinary();
  if (bin === null) throw new Error('nginx is not installed (apt-get install -y nginx-light), or leave it out with --only');
  const port = await freePort();
  const dir = path.join(ctx.tmpDir, 'nginx');
  fs.mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    conf,
    [
      '# generated by bench/lib/targets.ts',
      'daemon off;',
      'master_process off;',
      'worker_processes 1;',
      `pid ${path.join(dir, 'nginx.pid')};`,
      `error_log ${path.join(dir, 'error.log')} warn;`,
      'events { worker_connections 4096; }',
      'http {',
      '  access_log off;',
      `  client_body_temp_path ${path.join(dir, 'body')};`,
      `  proxy_temp_path ${path.join(dir, 'proxy')};`,
      `  upstream fake { server 127.0.0.1:${ctx.upstreamPort}; keepalive 128; }`,
      '  server {',
      `    listen 127.0.0.1:${port};`,
      '    location / {',
      '      proxy_pass http://fake;',
      '      proxy_http_version 1.1;',
      '      proxy_set_header Connection "";',
      '      proxy_buffering off;',
      '    }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  return startRelay(ctx, 'nginx', port, pinned(ctx.core, bin, ['-c', conf, '-p', dir, '-e', path.join(dir, 'error.log')]), { binary: bin });
}

export const PEER_PACKAGE = '@portkey-ai/gateway';
export function peerEntry(repoRoot: string): string {
  return path.join(repoRoot, 'bench/peers/node_modules/@portkey-ai/gateway/build/start-server.js');
}

export async function startPeer(ctx: TargetContext): Promise<Target> {
  const port = await freePort();
  const entry = peerEntry(ctx.repoRoot);
  const { cmd, args } = pinned(ctx.core, process.execPath, [...ctx.nodeFlags, entry, `--port=${port}`, '--headless']);
  const child = startChild('peer (portkey)', cmd, args, {
    logPath: path.join(ctx.tmpDir, 'peer.log'),
    env: { ...process.env, NODE_ENV: 'production' },
    cwd: ctx.tmpDir,
  });
  try {
    // Portkey answers GET / with 200 once it listens.
    await waitForHttp(`http://127.0.0.1:${port}/`, child, { timeoutMs: 30_000, ok: (s) => s === 200 });
  } catch (err) {
    await child.stop();
    throw err;
  }
  const pkg = JSON.parse(
    fs.readFileSync(path.join(ctx.repoRoot, 'bench/peers/node_modules/@portkey-ai/gateway/package.json'), 'utf8'),
  ) as { version?: string };
  return {
    name: 'peer',
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    headers: {
      'Content-Type': 'application/json',
      Authorization: `Bearer ${UPSTREAM_KEY}`,
      'x-portkey-provider': 'openai',
      'x-portkey-custom-host': `http://127.0.0.1:${ctx.upstreamPort}/v1`,
    },
    body: (stream) => chatBody(UPSTREAM_MODEL, stream, ctx.promptBytes),
    info: { port, package: `${PEER_PACKAGE}@${pkg.version ?? '?'}`, log: child.logPath },
    stop: () => child.stop(),
  };
}

export function gatewayConfigYaml(opts: {
  port: number;
  dbPath: string;
  upstreamPort: number;
  logLevel?: string;
  extraLines?: string[];
}): string {
  const lines = [
    `listen: {host: 127.0.0.1, port: ${opts.port}}`,
    `storage: sqlite:${opts.dbPath}`,
    'providers:',
    `  - {id: fake, kind: openai, base_url: "http://127.0.0.1:${opts.upstreamPort}/v1", api_key: "${UPSTREAM_KEY}"}`,
    'models:',
    `  - id: ${GATEWAY_MODEL}`,
    `    upstreams: [{provider: fake, model: ${UPSTREAM_MODEL}}]`,
    '    pricing: {input: "0.16", cached_input: "0.004", output: "0.30"}',
    'plans:',
    '  - {id: bench, rpm: 100000000, concurrency: 100000, daily_tokens: 1000000000000}',
    'default_plan: bench',
  ];
  if (opts.logLevel !== undefined) lines.push(`logging: {level: ${opts.logLevel}}`);
  lines.push(...(opts.extraLines ?? []));
  return lines.join('\n') + '\n';
}

async function adminCall(
  base: string,
  token: string,
  method: string,
  p: string,
  body: unknown,
): Promise<{ status: number; json: unknown; text: string }> {
  const res = await fetch(base + p, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // left null; callers report the text
  }
  return { status: res.status, json, text };
}

/** Finds a string field by name at the top level or one level down (e.g. {account:{id}}). */
function pickString(v: unknown, names: string[]): string | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  for (const n of names) if (typeof o[n] === 'string') return o[n];
  for (const inner of Object.values(o)) {
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
      const r = pickString(inner, names);
      if (r !== undefined) return r;
    }
  }
  return undefined;
}

export async function startGateway(ctx: TargetContext): Promise<Target> {
  const bin = path.join(ctx.repoRoot, 'bin/tollgate.js');
  if (!fs.existsSync(bin)) throw new Error(`gateway not runnable: ${bin} does not exist`);
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(ctx.tmpDir, 'gateway-'));
  const configPath = path.join(dir, 'tollgate.yaml');
  fs.writeFileSync(
    configPath,
    gatewayConfigYaml({ port, dbPath: path.join(dir, 'bench.db'), upstreamPort: ctx.upstreamPort, logLevel: ctx.gatewayLogLevel, extraLines: ctx.gatewayConfigLines }),
  );
  const adminToken = randomBytes(24).toString('hex'); // 48 chars
  const nodeFlags = ctx.gatewayProfileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${ctx.gatewayProfileDir}`] : [];
  const { cmd, args } = nodeCommand(ctx, [...ctx.nodeFlags, ...nodeFlags, bin, 'serve', '--config', configPath]);
  const child = startChild('gateway (tollgate)', cmd, args, {
    logPath: path.join(dir, 'gateway.log'),
    env: { ...process.env, NODE_ENV: 'production', TOLLGATE_ADMIN_TOKEN: adminToken },
    cwd: ctx.repoRoot,
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${base}/healthz`, child, { timeoutMs: ctx.wrapper?.startTimeoutMs ?? 30_000, ok: (s) => s === 200 });

    const acc = await adminCall(base, adminToken, 'POST', '/admin/v1/accounts', { name: 'bench' });
    const accountId = pickString(acc.json, ['id', 'account_id']);
    if (acc.status >= 300 || accountId === undefined) {
      throw new Error(`POST /admin/v1/accounts -> HTTP ${acc.status}: ${acc.text.slice(0, 500)}`);
    }
    const credits = await adminCall(base, adminToken, 'POST', `/admin/v1/accounts/${encodeURIComponent(accountId)}/credits`, {
      amount_usd: '1000000',
      note: 'bench',
    });
    // The credits endpoint may not exist yet: a 404 is tolerated, anything else non-2xx is not.
    if (credits.status >= 300 && credits.status !== 404) {
      throw new Error(`POST /admin/v1/accounts/${accountId}/credits -> HTTP ${credits.status}: ${credits.text.slice(0, 500)}`);
    }
    const keyRes = await adminCall(base, adminToken, 'POST', `/admin/v1/accounts/${encodeURIComponent(accountId)}/keys`, {});
    const key = pickString(keyRes.json, ['key', 'api_key', 'secret']);
    if (keyRes.status >= 300 || key === undefined) {
      throw new Error(`POST /admin/v1/accounts/${accountId}/keys -> HTTP ${keyRes.status}: ${keyRes.text.slice(0, 500)}`);
    }
    return {
      name: 'gateway',
      url: `${base}/v1/chat/completions`,
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
      body: (stream) => chatBody(GATEWAY_MODEL, stream, ctx.promptBytes),
      info: {
        port,
        config: configPath,
        log: child.logPath,
        credits_endpoint: credits.status === 404 ? 'missing (404), balance not funded' : `HTTP ${credits.status}`,
      },
      pid: child.proc.pid,
      stop: () => child.stop(),
    };
  } catch (err) {
    await child.stop();
    const e = err as Error;
    if (!e.message.includes('last output')) e.message += `\ngateway log (${child.logPath}):\n${child.tail()}`;
    throw e;
  }
}

export interface Verified {
  /** Content frames seen in the streamed check (the fake sends 20). */
  streamContentFrames: number;
  streamUsageFrame: boolean;
  nonStreamBytes: number;
  streamBytes: number;
}

/**
 * One real request of each kind before any load: a target that answers with
 * an error, or with a body that is not a chat completion, is reported as
 * broken instead of being measured (an error page is fast).
 */
export async function verifyTarget(t: Target): Promise<Verified> {
  const res = await fetch(t.url, { method: 'POST', headers: t.headers, body: t.body(false), signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${t.name}: non-stream check got HTTP ${res.status}: ${text.slice(0, 500)}`);
  let parsed: { object?: unknown; choices?: Array<{ message?: { content?: unknown } }> };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    throw new Error(`${t.name}: non-stream check got a body that is not JSON: ${text.slice(0, 300)}`);
  }
  if (typeof parsed.choices?.[0]?.message?.content !== 'string') {
    throw new Error(`${t.name}: non-stream check got no choices[0].message.content: ${text.slice(0, 300)}`);
  }

  const sres = await fetch(t.url, { method: 'POST', headers: t.headers, body: t.body(true), signal: AbortSignal.timeout(10_000) });
  const stext = await sres.text();
  if (sres.status !== 200) throw new Error(`${t.name}: stream check got HTTP ${sres.status}: ${stext.slice(0, 500)}`);
  const ctype = sres.headers.get('content-type') ?? '';
  if (!ctype.startsWith('text/event-stream')) {
    throw new Error(`${t.name}: stream check got content-type "${ctype}": ${stext.slice(0, 300)}`);
  }
  let contentFrames = 0;
  let usageFrame = false;
  let done = false;
  for (const block of stext.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trimStart())
      .join('\n');
    if (data === '') continue;
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    const chunk = JSON.parse(data) as { choices?: Array<{ delta?: { content?: unknown } }>; usage?: unknown };
    if (typeof chunk.choices?.[0]?.delta?.content === 'string') contentFrames++;
    if (chunk.usage != null && (chunk.choices?.length ?? 0) === 0) usageFrame = true;
  }
  if (!done) throw new Error(`${t.name}: stream check did not end with data: [DONE]: ...${stext.slice(-300)}`);
  if (contentFrames === 0) throw new Error(`${t.name}: stream check saw no content frames: ${stext.slice(0, 300)}`);
  return {
    streamContentFrames: contentFrames,
    streamUsageFrame: usageFrame,
    nonStreamBytes: Buffer.byteLength(text),
    streamBytes: Buffer.byteLength(stext),
  };
}
