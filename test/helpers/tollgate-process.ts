import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Runs `bin/tollgate.js` as a child process, the way an operator does, and watches its
// output. The environment is the test's minus anything that would change what the CLI
// does (provider keys, Tollgate settings), plus what the test passes.

export const BIN = fileURLToPath(new URL('../../bin/tollgate.js', import.meta.url));

const STRIP = /^(OPENAI_API_KEY|DEEPSEEK_API_KEY|MOONSHOT_API_KEY|TOLLGATE_.*|PORT)$/;

export interface TollgateProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with stdout once it matches; rejects on timeout or exit. */
  waitFor(pattern: string | RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal (default SIGTERM) if still running and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!STRIP.test(k)) env[k] = v;
  return { ...env, NO_COLOR: '1', ...extra };
}

export function runTollgate(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): TollgateProcess {
  const child = spawn(process.execPath, [BIN, ...args], { env: childEnv(opts.env), cwd: opts.cwd ?? process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    listeners.forEach((l) => l());
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    // 'close', not 'exit': 'exit' can come before the last output has been read from
    // the pipes (a CLI's error message was seen missing under load).
    child.once('close', (code, signal) => {
      done = true;
      listeners.forEach((l) => l());
      resolve({ code, signal });
    }),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, timeoutMs = 15_000) {
      const test = () => (typeof pattern === 'string' ? out.includes(pattern) : pattern.test(out));
      if (test()) return Promise.resolve(out);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${String(pattern)}\nstdout: ${out}\nstderr: ${err}`));
        }, timeoutMs);
        const check = () => {
          if (test()) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve(out);
          } else if (done) {
            clearTimeout(timer);
            listeners.delete(check);
            reject(new Error(`process exited before ${String(pattern)}\nstdout: ${out}\nstderr: ${err}`));
          }
        };
        listeners.add(check);
      });
    },
    async stop(signal = 'SIGTERM') {
      if (!done) child.kill(signal);
      return exited;
    },
  };
}

/** Runs a CLI command to completion. */
export async function runTollgateToEnd(args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}) {
  const p = runTollgate(args, opts);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
  const { code, signal } = await p.exited;
  clearTimeout(timer);
  return { code, signal, stdout: p.stdout(), stderr: p.stderr() };
}

export interface ServeProcess {
  proc: TollgateProcess;
  url: string;
  adminToken: string;
  /** Admin API call; throws unless the status is 2xx. */
  admin(method: string, path: string, body?: unknown): Promise<any>;
  /** An account with credit and a key. */
  customer(creditUsd?: string): Promise<{ accountId: string; key: string }>;
}

/**
 * Starts `tollgate serve --config <dir>/tollgate.yaml` on port 0 with the admin token in
 * TOLLGATE_ADMIN_TOKEN, and waits until it listens. `yaml` is the rest of the config
 * (providers, models...); listen, storage and logging are filled in.
 */
export async function startServeProcess(dir: string, yaml: string, opts: { adminToken?: string } = {}): Promise<ServeProcess> {
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const adminToken = opts.adminToken ?? 'serve-process-admin-token-0123456789';
  const cfg = join(dir, 'tollgate.yaml');
  writeFileSync(cfg, `listen: { host: 127.0.0.1, port: 0 }\nstorage: sqlite:${join(dir, 'tollgate.db')}\nlogging: { level: warn }\n${yaml}`);
  const proc = runTollgate(['serve', '--config', cfg], { env: { TOLLGATE_ADMIN_TOKEN: adminToken } });
  let out: string;
  try {
    out = await proc.waitFor(/listening on http:\S+/);
  } catch (err) {
    await proc.stop('SIGKILL');
    throw err;
  }
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json() as Promise<any>;
  };
  return {
    proc,
    url,
    adminToken,
    admin,
    async customer(creditUsd = '10') {
      const account = await admin('POST', '/accounts', { name: 'customer' });
      await admin('POST', `/accounts/${account.id}/credits`, { amount_usd: creditUsd });
      const { key } = await admin('POST', `/accounts/${account.id}/keys`, {});
      return { accountId: account.id as string, key: key as string };
    },
  };
}
