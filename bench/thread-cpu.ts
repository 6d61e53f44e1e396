// CPU per request, thread by thread, of the bare relay or the gateway under wrk.
//
//   node bench/thread-cpu.ts [--target gateway|bare] [--mode nonstream|stream]
//                            [--connections N] [--duration S] [--rounds N]
//
// Same layout as `npm run bench`: the target alone on core 0, the fake upstream and
// wrk on core 1. Each round reads every thread's utime+stime from /proc before and
// after a wrk run and divides by the requests served. Unlike a CPU profile, this sees
// the journal thread and V8's helper threads, and it does not blame the main thread for
// time another thread of the same process ran on its core. See bench/README.md.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { installCleanupHooks, pinningAvailable } from './lib/children.ts';
import { startBare, startGateway, startUpstream, type TargetContext } from './lib/targets.ts';
import { runWrk, writeWrkScript, wrkProblems } from './lib/wrk.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    target: { type: 'string', default: 'gateway' },
    mode: { type: 'string', default: 'nonstream' },
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
  },
});
const target = values.target!;
const mode = values.mode!;
const connections = Number(values.connections);
const durationS = Number(values.duration);
const rounds = Number(values.rounds);
const positive = (n: number): boolean => Number.isInteger(n) && n > 0;
if (!['gateway', 'bare'].includes(target) || !['nonstream', 'stream'].includes(mode) || !positive(connections) || !positive(durationS) || !positive(rounds)) {
  console.error('usage: node bench/thread-cpu.ts [--target gateway|bare] [--mode nonstream|stream] [--connections N] [--duration S] [--rounds N]');
  process.exit(2);
}
if (os.platform() !== 'linux') {
  console.error('thread-cpu: needs Linux (/proc)');
  process.exit(2);
}

/** Clock ticks per second of /proc's utime/stime (USER_HZ). */
const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime+stime in ticks of every thread of `pid`, by "name#tid". */
function threadTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      // Fields after the ")" that closes the name: state is field 3, utime 14, stime 15.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(`${name}#${tid}`, Number(f[11]) + Number(f[12]));
    } catch {
      // A thread that ended between readdir and read.
    }
  }
  return out;
}

installCleanupHooks();
const pin = pinningAvailable();
if (!pin) console.warn('thread-cpu: WARNING: taskset or a second core is missing; running unpinned, so other processes share the target\'s cores');
const targetCore = pin ? 0 : null;
const loadCore = pin ? 1 : null;
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-thread-cpu-'));
const { child: upstream, port: upstreamPort } = await startUpstream(repoRoot, tmpDir, loadCore, []);
const ctx: TargetContext = { repoRoot, tmpDir, upstreamPort, core: targetCore, nodeFlags: [], promptBytes: 0 };
const t = target === 'bare' ? await startBare(ctx) : await startGateway(ctx);
const pid = t.pid!;
const script = path.join(tmpDir, 'request.lua');
writeWrkScript(script, { url: t.url, headers: t.headers, body: t.body(mode === 'stream') });
try {
  await runWrk({ script, url: t.url, connections: 64, durationS: 3, core: loadCore }); // warm-up
  for (let round = 1; round <= rounds; round++) {
    const before = threadTicks(pid);
    const r = await runWrk({ script, url: t.url, connections, durationS, core: loadCore });
    const after = threadTicks(pid);
    const problems = wrkProblems(r);
    if (problems.length > 0) throw new Error(`round ${round} is not a clean run: ${problems.join('; ')}`);
    const perThread: string[] = [];
    let total = 0;
    let helpers = 0;
    for (const [thread, ticks] of after) {
      const us = ((ticks - (before.get(thread) ?? 0)) * 1e6) / TICKS_PER_S / r.requests;
      total += us;
      // V8's GC and compiler helpers are several threads of a few tenths each: summed.
      if (thread.startsWith('V8Worker')) helpers += us;
      else if (us >= 0.5) perThread.push(`${thread.split('#')[0]} ${us.toFixed(1)}`);
    }
    perThread.push(`V8 helpers ${helpers.toFixed(1)}`);
    console.log(
      `${target} ${mode} c=${connections} round ${round}: ${Math.round(r.rps)} req/s, p50 ${r.latencyMs.p50.toFixed(2)} ms, p99 ${r.latencyMs.p99.toFixed(2)} ms, ` +
        `CPU steal ${r.stealPct === null ? 'n/a' : `${r.stealPct.toFixed(1)}%`}; ` +
        `CPU per request ${total.toFixed(1)} µs (${perThread.join(', ')})`,
    );
  }
} finally {
  await t.stop();
  await upstream.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
}
