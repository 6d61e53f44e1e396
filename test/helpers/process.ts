import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { stringify } from 'yaml';

// Runs the real `tollgate` command as a child process, for what only a process can show:
// signals, crashes, restarts, the CLI.

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'tollgate.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface GatewayProcess {
  proc: ChildProcess;
  url: string;
  configFile: string;
  output: () => string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

export function writeConfig(dir: string, config: Record<string, unknown>): string {
  const file = join(dir, 'tollgate.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

/** Starts `tollgate serve --config` and waits until /healthz answers. */
export async function spawnGateway(config: Record<string, unknown>, opts: { dir?: string; env?: Record<string, string> } = {}): Promise<GatewayProcess> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'tollgate-proc-'));
  const port = await freePort();
  const configFile = writeConfig(dir, { listen: { host: '127.0.0.1', port }, storage: `sqlite:${join(dir, 'tollgate.db')}`, ...config });
  const proc = spawn(process.execPath, [BIN, 'serve', '--config', configFile], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  // 'close' waits for the pipes to drain as well as for the exit.
  const exited = new Promise<number | string>((resolve) => proc.once('close', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`gateway exited early:\n${out}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`gateway did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, url, configFile, output: () => out, exited };
}

/** Runs a tollgate CLI command to completion. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
