// Child processes of the bench: every one is tracked so that none outlives
// run.ts, whether it ends normally, throws, or is interrupted (Ctrl-C).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';

const live = new Set<ChildProcess>();
let hooksInstalled = false;

function killAll(signal: NodeJS.Signals): void {
  for (const p of live) {
    try {
      p.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Installs exit/signal hooks once: children get SIGTERM on a signal and SIGKILL at exit. */
export function installCleanupHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => killAll('SIGKILL'));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      // Exit at once: an interrupted run must not go on to report (and
      // overwrite results/latest.json with) half-measured figures.
      console.error(`\nbench: ${sig}, stopping children; nothing written`);
      killAll('SIGTERM');
      process.exit(130); // the 'exit' hook follows up with SIGKILL
    });
  }
}

/** Whether processes can be pinned to cores: taskset present and at least 2 cores. */
export function pinningAvailable(): boolean {
  if (os.availableParallelism() < 2) return false;
  const r = spawnSync('taskset', ['--version'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

/** Prefixes a command with `taskset -c <core>` when pinning is on. */
export function pinned(core: number | null, cmd: string, args: string[]): { cmd: string; args: string[] } {
  if (core === null) return { cmd, args };
  return { cmd: 'taskset', args: ['-c', String(core), cmd, ...args] };
}

export interface Child {
  name: string;
  proc: ChildProcess;
  logPath: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<string>;
  hasExited(): boolean;
  /** Last lines of the process's combined stdout/stderr. */
  tail(lines?: number): string;
  stop(): Promise<void>;
}

/** Starts a long-running child with stdout/stderr sent to logPath (not to a pipe we must drain). */
export function startChild(
  name: string,
  cmd: string,
  args: string[],
  opts: { logPath: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Child {
  const fd = fs.openSync(opts.logPath, 'a');
  const proc = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  live.add(proc);
  let done = false;
  const exited = new Promise<string>((resolve) => {
    proc.once('error', (err) => {
      done = true;
      live.delete(proc);
      resolve(`spawn error: ${err.message}`);
    });
    proc.once('exit', (code, signal) => {
      done = true;
      live.delete(proc);
      resolve(signal !== null ? `signal ${signal}` : `exit code ${code}`);
    });
  });
  return {
    name,
    proc,
    logPath: opts.logPath,
    exited,
    hasExited: () => done,
    tail: (lines = 20) => {
      try {
        return fs.readFileSync(opts.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
    stop: async () => {
      if (done) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3_000); // 3 s grace
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs a short-lived child to completion, collecting its output. Tracked like the others. */
export function runToEnd(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    proc.once('error', (err) => {
      live.delete(proc);
      reject(err);
    });
    proc.once('close', (code) => {
      live.delete(proc);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Polls `url` until `ok(status)` holds. Fails early if the child exits, and
 * after `timeoutMs` otherwise, with the child's last log lines in the message.
 */
export async function waitForHttp(
  url: string,
  child: Child,
  opts: { timeoutMs: number; ok: (status: number) => boolean },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child.hasExited()) {
      throw new Error(`${child.name} exited before it was ready (${await child.exited}); last output:\n${child.tail()}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (opts.ok(res.status)) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${child.name} not ready at ${url} after ${opts.timeoutMs} ms (${last}); last output:\n${child.tail()}`);
}
