// Benchmark: Tollgate vs. a direct connection to a fake upstream vs. the
// Portkey gateway, with wrk. See bench/README.md.
//
//   npm run bench -- [--duration S] [--warmup S] [--only direct,nginx,bare,gateway,peer] [--no-peer]
//                    [--rounds N] [--connections N] [--gateway-log-level LEVEL]
//
// Layout on the 2-core machine: the targets on core 0, all running, measured one at
// a time in turns; the fake upstream and wrk share core 1.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { installCleanupHooks, pinningAvailable } from './lib/children.ts';
import { computeRatios, evaluateGoals, MODE_LABEL, MODES, renderReport, type Mode, type TargetRuns } from './lib/report.ts';
import {
  directTarget,
  nginxBinary,
  peerEntry,
  startBare,
  startNginx,
  startGateway,
  startPeer,
  startUpstream,
  TARGET_NAMES,
  verifyTarget,
  type Target,
  type TargetContext,
  type TargetName,
} from './lib/targets.ts';
import { runWrk, writeWrkScript, wrkProblems, wrkVersion, type WrkResult } from './lib/wrk.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TARGET_CORE = 0;
const LOAD_CORE = 1; // fake upstream and wrk

const USAGE = `usage: npm run bench -- [options]
  --duration S             seconds per measurement (default 3)
  --warmup S               seconds of unmeasured 64-connection load per target and mode before
                           the first round (default 20)
  --only LIST              comma-separated targets among direct,nginx,bare,gateway,peer (default all;
                           nginx only when installed)
  --no-peer                skip the Portkey peer
  --rounds N               measure every target in turn N times; ratios are medians of the
                           rounds' ratios (default 5)
  --connections N          connections for the throughput run (default 64)
  --prompt-bytes N         send a coding-assistant conversation of about N bytes instead of the one-word
                           request (default 0: the one-word request the goals are set for); results go to
                           results/prompt-N.json
  --gateway-log-level L    add logging.level L to the gateway config (default: the gateway's own)
  --node-flags="F ..."     extra node flags for every Node process started (upstream, bare, peer, gateway),
                           e.g. "--single-threaded-gc"
  --profile                run the gateway with --cpu-prof (slows it; figures are then not comparable)
  --keep-logs              keep the temp dir (child logs, configs, wrk scripts) even on success
  --help`;

interface Options {
  durationS: number;
  warmupS: number;
  targets: TargetName[];
  rounds: number;
  connections: number;
  promptBytes: number;
  gatewayLogLevel?: string;
  nodeFlags: string[];
  profile: boolean;
  keepLogs: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '20' },
      only: { type: 'string' },
      'no-peer': { type: 'boolean', default: false },
      rounds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '64' },
      'prompt-bytes': { type: 'string', default: '0' },
      'gateway-log-level': { type: 'string' },
      'node-flags': { type: 'string', default: '' },
      profile: { type: 'boolean', default: false },
      'keep-logs': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const posInt = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${v}"`);
    return n;
  };
  let targets: TargetName[] = [...TARGET_NAMES];
  if (values.only !== undefined) {
    const asked = values.only.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const a of asked) {
      if (!(TARGET_NAMES as readonly string[]).includes(a)) {
        throw new Error(`--only: unknown target "${a}" (known: ${TARGET_NAMES.join(', ')})`);
      }
    }
    targets = TARGET_NAMES.filter((t) => asked.includes(t));
  }
  if (values['no-peer']) targets = targets.filter((t) => t !== 'peer');
  // nginx is a reference, not a competitor: measured when installed, skipped (and said so) when not.
  if (values.only === undefined && nginxBinary() === null) {
    console.warn('bench: nginx is not installed; skipping the nginx reference (apt-get install -y nginx-light)');
    targets = targets.filter((t) => t !== 'nginx');
  }
  if (targets.length === 0) throw new Error('no target left to measure');
  return {
    durationS: posInt('duration', values.duration, 1),
    warmupS: posInt('warmup', values.warmup, 0),
    targets,
    rounds: posInt('rounds', values.rounds, 1),
    connections: posInt('connections', values.connections, 1),
    promptBytes: posInt('prompt-bytes', values['prompt-bytes'], 0),
    gatewayLogLevel: values['gateway-log-level'],
    nodeFlags: values['node-flags'].split(/\s+/).filter((f) => f !== ''),
    profile: values.profile,
    keepLogs: values['keep-logs'],
  };
}

/** Installs bench/peers (Portkey with its pins) on first use; never touches the root package. */
function ensurePeerInstalled(): void {
  if (fs.existsSync(peerEntry(repoRoot))) return;
  const prefix = path.join(repoRoot, 'bench/peers');
  // --ignore-scripts: Portkey's postinstall runs patch-package, which is only in its dev tree.
  const common = ['--prefix', prefix, '--ignore-scripts', '--no-audit', '--no-fund'];
  console.log('bench: installing the peer gateway into bench/peers (npm ci) ...');
  let r = spawnSync('npm', ['ci', ...common], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.log('bench: npm ci failed, trying npm install ...');
    r = spawnSync('npm', ['install', ...common], { stdio: 'inherit' });
  }
  if (r.error !== undefined || r.status !== 0 || !fs.existsSync(peerEntry(repoRoot))) {
    throw new Error('could not install bench/peers; run `npm ci --prefix bench/peers --ignore-scripts` and retry, or use --no-peer');
  }
}

function gitCommit(): string | null {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' });
  if (r.status !== 0) return null;
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', 'src', 'bin'], { cwd: repoRoot, encoding: 'utf8' });
  return r.stdout.trim() + (dirty.stdout.trim() !== '' ? '+dirty' : '');
}

async function startTarget(name: TargetName, ctx: TargetContext): Promise<Target> {
  switch (name) {
    case 'direct':
      return directTarget(ctx);
    case 'nginx':
      return startNginx(ctx);
    case 'bare':
      return startBare(ctx);
    case 'gateway':
      return startGateway(ctx);
    case 'peer':
      return startPeer(ctx);
  }
}

/** Unmeasured load, so that every target is measured at its steady state: a Node
 *  process needs 10-15 s of load before its JIT and heap settle (bench/README.md). */
async function warmUp(t: Target, mode: Mode, opts: Options, tmpDir: string, loadCore: number | null): Promise<string[]> {
  if (opts.warmupS === 0) return [];
  process.stdout.write(`  ${t.name} ${MODE_LABEL[mode]}: warm-up ${opts.warmupS}s ... `);
  const w = await runWrk({ script: scriptFor(t, mode, tmpDir), url: t.url, connections: opts.connections, durationS: opts.warmupS, core: loadCore });
  process.stdout.write(`${Math.round(w.rps)} req/s\n`);
  return wrkProblems(w).map((p) => `warm-up: ${p}`);
}

function scriptFor(t: Target, mode: Mode, tmpDir: string): string {
  const script = path.join(tmpDir, `${t.name}-${mode}.lua`);
  if (!fs.existsSync(script)) writeWrkScript(script, { url: t.url, headers: t.headers, body: t.body(mode === 'stream') });
  return script;
}

/** One wrk run of `connections` connections against a target, with its problems. */
async function measure(t: Target, mode: Mode, connections: number, opts: Options, tmpDir: string, loadCore: number | null): Promise<{ run: WrkResult; problems: string[] }> {
  process.stdout.write(`  ${t.name} ${MODE_LABEL[mode]}: c=${connections} ${opts.durationS}s ... `);
  const run = await runWrk({ script: scriptFor(t, mode, tmpDir), url: t.url, connections, durationS: opts.durationS, core: loadCore });
  const problems = wrkProblems(run).map((p) => `c=${connections}: ${p}`);
  process.stdout.write(`${Math.round(run.rps)} req/s, p50 ${run.latencyMs.p50.toFixed(2)} ms, p99 ${run.latencyMs.p99.toFixed(2)} ms${problems.length > 0 ? ` PROBLEM: ${problems.join('; ')}` : ''}\n`);
  return { run, problems };
}

function fail(res: TargetRuns, err: unknown): void {
  const msg = (err as Error).message;
  res.errors.push(msg);
  console.log(`  ${res.name}: ERROR: ${msg}`);
}

async function main(): Promise<number> {
  installCleanupHooks();
  const opts = parseOptions(process.argv.slice(2));

  const wrk = wrkVersion();
  if (wrk === null) {
    throw new Error('wrk not found on PATH. Install it: `apt-get install -y wrk` (Debian/Ubuntu; run `apt-get update` first).');
  }
  const pin = pinningAvailable();
  if (!pin) console.warn('bench: WARNING: taskset or a second core is missing; running unpinned, figures are less comparable');
  const targetCore = pin ? TARGET_CORE : null;
  const loadCore = pin ? LOAD_CORE : null;
  if (opts.targets.includes('peer')) ensurePeerInstalled();

  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-'));
  console.log(
    `bench: ${opts.targets.join(', ')}; ${opts.durationS}s per measurement, ${opts.warmupS}s warm-up, ` +
      `${opts.rounds} round(s); ${pin ? 'targets on core 0, upstream + wrk on core 1' : 'unpinned'}; logs in ${tmpDir}`,
  );
  const loadBefore = os.loadavg();
  const started = new Date();

  const upstream = await startUpstream(repoRoot, tmpDir, loadCore, opts.nodeFlags);
  const ctx: TargetContext = {
    repoRoot,
    tmpDir,
    upstreamPort: upstream.port,
    core: targetCore,
    gatewayLogLevel: opts.gatewayLogLevel,
    nodeFlags: opts.nodeFlags,
    gatewayProfileDir: opts.profile ? path.join(tmpDir, 'profiles') : undefined,
    promptBytes: opts.promptBytes,
  };

  const results: TargetRuns[] = opts.targets.map((name) => ({
    name,
    info: {},
    errors: [],
    runs: { nonstream: [], stream: [] },
  }));

  // All targets run side by side (idle ones cost nothing) and are measured in turns,
  // round after round, so that each ratio compares figures taken seconds apart: on a
  // shared VM the speed of the machine drifts by half over minutes, and targets
  // measured one after the other compared the machine with itself.
  const live: Array<{ res: TargetRuns; target: Target; warmProblems: Record<Mode, string[]> }> = [];
  try {
    console.log('\nstarting and checking every target');
    for (const res of results) {
      try {
        const target = await startTarget(res.name, ctx);
        live.push({ res, target, warmProblems: { nonstream: [], stream: [] } });
        const verified = await verifyTarget(target);
        res.info = { ...target.info, verified };
        console.log(
          `  ${res.name}: 200 non-stream; 200 stream with ${verified.streamContentFrames} content frames` +
            `${verified.streamUsageFrame ? ' + usage frame' : ''} and [DONE]`,
        );
      } catch (err) {
        fail(res, err);
      }
    }
    console.log('\nwarm-up');
    for (const l of live) {
      for (const mode of MODES) {
        if (l.res.errors.length > 0) break;
        try {
          l.warmProblems[mode] = await warmUp(l.target, mode, opts, tmpDir, loadCore);
        } catch (err) {
          fail(l.res, err);
        }
      }
    }
    for (let round = 1; round <= opts.rounds; round++) {
      console.log(`\nround ${round}/${opts.rounds}`);
      // A different target goes first in each round, so none is always measured right
      // after the same neighbour.
      const order = live.map((_, i) => live[(i + round - 1) % live.length]);
      for (const mode of MODES) {
        // All targets at 64 connections back to back, then all at 1, so that the
        // figures a ratio divides were taken seconds apart.
        const c64 = new Map<TargetRuns, { run: WrkResult; problems: string[] }>();
        for (const l of order) {
          if (l.res.errors.length > 0) continue;
          try {
            c64.set(l.res, await measure(l.target, mode, opts.connections, opts, tmpDir, loadCore));
          } catch (err) {
            fail(l.res, err);
          }
        }
        for (const l of order) {
          const high = c64.get(l.res);
          if (l.res.errors.length > 0 || high === undefined) continue;
          try {
            const low = await measure(l.target, mode, 1, opts, tmpDir, loadCore);
            const problems = [...(round === 1 ? l.warmProblems[mode] : []), ...high.problems, ...low.problems];
            l.res.runs[mode].push({ c64: high.run, c1: low.run, problems });
          } catch (err) {
            fail(l.res, err);
          }
        }
      }
    }
  } finally {
    for (const l of live) await l.target.stop();
    await upstream.child.stop();
  }

  const ratios = computeRatios(results);
  const goals = evaluateGoals(ratios);
  console.log('\n' + renderReport(results, ratios, goals));

  const out = {
    generated_at: started.toISOString(),
    finished_at: new Date().toISOString(),
    options: opts,
    machine: {
      node: process.version,
      wrk,
      cpus: os.availableParallelism(),
      cpu_model: os.cpus()[0]?.model ?? 'unknown',
      pinned: pin,
      layout: pin ? { target_core: TARGET_CORE, upstream_core: LOAD_CORE, wrk_core: LOAD_CORE } : null,
      loadavg_before: loadBefore,
      loadavg_after: os.loadavg(),
    },
    git_commit: gitCommit(),
    targets: results,
    ratios,
    goals,
  };
  const outDir = path.join(repoRoot, 'bench/results');
  fs.mkdirSync(outDir, { recursive: true });
  // A profiled run is slowed by the profiler: keep it out of latest.json.
  // So is a run with another request body: the goals are set for the one-word request.
  const outFile = path.join(outDir, opts.profile ? 'profile.json' : opts.promptBytes > 0 ? `prompt-${opts.promptBytes}.json` : 'latest.json');
  fs.writeFileSync(outFile, JSON.stringify(out, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(process.cwd(), outFile) || outFile}`);

  const broken = results.some((r) => r.errors.length > 0 || MODES.some((m) => r.runs[m].some((x) => x.problems.length > 0)));
  if (broken) {
    console.log(`bench: some targets failed; logs kept in ${tmpDir}`);
    return 1;
  }
  if (opts.profile) console.log(`bench: gateway CPU profiles in ${ctx.gatewayProfileDir} (open in Chrome DevTools > Performance)`);
  if (opts.keepLogs || opts.profile) console.log(`bench: logs kept in ${tmpDir}`);
  else fs.rmSync(tmpDir, { recursive: true, force: true });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench: ${(err as Error).message ?? String(err)}`);
    process.exit(1);
  },
);
