// Turns measured runs into the summary table, the ratios and the goal checks.

import type { TargetName } from './targets.ts';
import type { WrkResult } from './wrk.ts';

export type Mode = 'nonstream' | 'stream';
export const MODES: readonly Mode[] = ['nonstream', 'stream'];
export const MODE_LABEL: Record<Mode, string> = { nonstream: 'non-stream', stream: 'stream' };

/** One target, one mode, one round. */
export interface ModeRun {
  c64: WrkResult;
  c1: WrkResult;
  problems: string[];
}

export interface TargetRuns {
  name: TargetName;
  info: Record<string, unknown>;
  /** Set when the target could not be started or checked: nothing of it is quoted. */
  errors: string[];
  runs: Record<Mode, ModeRun[]>;
}

/** Medians over rounds of the figures the report quotes. */
export interface Summary {
  rps64: number;
  p50_64: number;
  p99_64: number;
  rps1: number;
  p50_1: number;
  p99_1: number;
  rounds: number;
  /** False when any round had non-2xx responses or socket errors. */
  clean: boolean;
  /** The highest CPU steal of any of its wrk runs, in %; null when not measured (not Linux). */
  stealMaxPct: number | null;
}

/** Steal above this share of the machine marks figures as the machine's, not the target's. */
export const STEAL_WARN_PCT = 10;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function summarize(runs: ModeRun[]): Summary | null {
  if (runs.length === 0) return null;
  return {
    rps64: median(runs.map((r) => r.c64.rps)),
    p50_64: median(runs.map((r) => r.c64.latencyMs.p50)),
    p99_64: median(runs.map((r) => r.c64.latencyMs.p99)),
    rps1: median(runs.map((r) => r.c1.rps)),
    p50_1: median(runs.map((r) => r.c1.latencyMs.p50)),
    p99_1: median(runs.map((r) => r.c1.latencyMs.p99)),
    rounds: runs.length,
    clean: runs.every((r) => r.problems.length === 0),
    stealMaxPct: maxOrNull(runs.flatMap((r) => [r.c64.stealPct, r.c1.stealPct])),
  };
}

function maxOrNull(xs: Array<number | null>): number | null {
  const known = xs.filter((x): x is number => x !== null);
  return known.length === 0 ? null : Math.max(...known);
}

/** A summary that may be quoted: measured, and with only 2xx responses. */
function usable(t: TargetRuns | undefined, mode: Mode): Summary | null {
  if (t === undefined || t.errors.length > 0) return null;
  const s = summarize(t.runs[mode]);
  return s !== null && s.clean ? s : null;
}

type Added = { p50: number; p99: number };

export interface Ratios {
  gateway_over_direct_rps: Record<Mode, number | null>;
  /** The gateway against a bare node:http + undici relay: what all the features cost. */
  gateway_over_bare_rps: Record<Mode, number | null>;
  bare_over_direct_rps: Record<Mode, number | null>;
  /** nginx against direct: what any relay keeps of the direct figure on this machine today. */
  nginx_over_direct_rps: Record<Mode, number | null>;
  gateway_over_peer_rps: Record<Mode, number | null>;
  /** Gateway minus direct at 1 connection, ms. */
  gateway_added_ms_c1: Record<Mode, Added | null>;
  peer_added_ms_c1: Record<Mode, Added | null>;
  /** The bare relay minus direct at 1 connection, ms: how much of the gateway's added
   *  latency any Node relay adds on this machine (at p99, mostly the VM's wake-ups). */
  bare_added_ms_c1: Record<Mode, Added | null>;
  /** nginx minus direct at 1 connection, ms: what a relay with none of Node's costs adds
   *  on this machine, i.e. the floor under the gateway's added latency. */
  nginx_added_ms_c1: Record<Mode, Added | null>;
  /** Each req/s ratio round by round; the figures above are their medians. */
  by_round: Record<RpsRatio, Record<Mode, number[]>>;
}

type RpsRatio = 'gateway_over_direct_rps' | 'gateway_over_bare_rps' | 'bare_over_direct_rps' | 'nginx_over_direct_rps' | 'gateway_over_peer_rps';
const RPS_RATIOS: ReadonlyArray<[RpsRatio, TargetName, TargetName]> = [
  ['gateway_over_direct_rps', 'gateway', 'direct'],
  ['gateway_over_bare_rps', 'gateway', 'bare'],
  ['bare_over_direct_rps', 'bare', 'direct'],
  ['nginx_over_direct_rps', 'nginx', 'direct'],
  ['gateway_over_peer_rps', 'gateway', 'peer'],
];

/** Pairs of runs of two targets from the same round. Targets are measured in turns
 *  within a round, so a pair was taken minutes apart at most: on a VM whose speed
 *  drifts, a ratio within a round is worth more than a ratio of two medians. */
function sameRound(a: TargetRuns | undefined, b: TargetRuns | undefined, mode: Mode): Array<[ModeRun, ModeRun]> | null {
  if (usable(a, mode) === null || usable(b, mode) === null) return null;
  const ra = a!.runs[mode];
  const rb = b!.runs[mode];
  const n = Math.min(ra.length, rb.length);
  return Array.from({ length: n }, (_, i): [ModeRun, ModeRun] => [ra[i], rb[i]]);
}

function addedAtC1(pairs: Array<[ModeRun, ModeRun]> | null): Added | null {
  if (pairs === null || pairs.length === 0) return null;
  return {
    p50: median(pairs.map(([x, d]) => x.c1.latencyMs.p50 - d.c1.latencyMs.p50)),
    p99: median(pairs.map(([x, d]) => x.c1.latencyMs.p99 - d.c1.latencyMs.p99)),
  };
}

export function computeRatios(targets: TargetRuns[]): Ratios {
  const by = (n: TargetName): TargetRuns | undefined => targets.find((t) => t.name === n);
  const none = <T>(): Record<Mode, T | null> => ({ nonstream: null, stream: null });
  const r: Ratios = {
    gateway_over_direct_rps: none(),
    gateway_over_bare_rps: none(),
    bare_over_direct_rps: none(),
    nginx_over_direct_rps: none(),
    gateway_over_peer_rps: none(),
    gateway_added_ms_c1: none(),
    peer_added_ms_c1: none(),
    bare_added_ms_c1: none(),
    nginx_added_ms_c1: none(),
    by_round: Object.fromEntries(RPS_RATIOS.map(([k]): [RpsRatio, Record<Mode, number[]>] => [k, { nonstream: [], stream: [] }])) as Ratios['by_round'],
  };
  for (const mode of MODES) {
    for (const [key, num, den] of RPS_RATIOS) {
      const pairs = sameRound(by(num), by(den), mode);
      if (pairs === null || pairs.length === 0) continue;
      const each = pairs.map(([x, y]) => x.c64.rps / y.c64.rps);
      r.by_round[key][mode] = each;
      r[key][mode] = median(each);
    }
    r.gateway_added_ms_c1[mode] = addedAtC1(sameRound(by('gateway'), by('direct'), mode));
    r.bare_added_ms_c1[mode] = addedAtC1(sameRound(by('bare'), by('direct'), mode));
    r.peer_added_ms_c1[mode] = addedAtC1(sameRound(by('peer'), by('direct'), mode));
    r.nginx_added_ms_c1[mode] = addedAtC1(sameRound(by('nginx'), by('direct'), mode));
  }
  return r;
}

export interface Goal {
  goal: string;
  measured: string;
  /** null when it could not be evaluated (a target missing or broken). */
  met: boolean | null;
}

// The performance goals of the issue that asked for this bench.
export const GOALS = {
  addedP50MsC1: 0.5,
  addedP99MsC1: 2,
  rpsShareNonStream: 0.5,
  rpsShareStream: 0.4,
};

export function evaluateGoals(r: Ratios): Goal[] {
  const goals: Goal[] = [];
  for (const mode of MODES) {
    const a = r.gateway_added_ms_c1[mode];
    goals.push({
      goal: `c=1 ${MODE_LABEL[mode]}: gateway adds <= ${GOALS.addedP50MsC1} ms p50`,
      measured: a === null ? 'n/a' : `${signed(a.p50)} ms`,
      met: a === null ? null : a.p50 <= GOALS.addedP50MsC1,
    });
    goals.push({
      goal: `c=1 ${MODE_LABEL[mode]}: gateway adds <= ${GOALS.addedP99MsC1} ms p99`,
      measured: a === null ? 'n/a' : `${signed(a.p99)} ms`,
      met: a === null ? null : a.p99 <= GOALS.addedP99MsC1,
    });
  }
  const share: Record<Mode, number> = { nonstream: GOALS.rpsShareNonStream, stream: GOALS.rpsShareStream };
  for (const mode of MODES) {
    const v = r.gateway_over_direct_rps[mode];
    goals.push({
      goal: `c=64 ${MODE_LABEL[mode]}: gateway >= ${pct(share[mode])} of direct req/s`,
      measured: v === null ? 'n/a' : pct(v),
      met: v === null ? null : v >= share[mode],
    });
  }
  return goals;
}

function signed(ms: number): string {
  return `${ms >= 0 ? '+' : ''}${ms.toFixed(2)}`;
}
function pct(x: number): string {
  return `${(x * 100).toFixed(0)}%`;
}
function ratio(x: number | null): string {
  return x === null ? 'n/a' : `${x.toFixed(2)}x (${pct(x)})`;
}

function pad(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
}

export function renderReport(targets: TargetRuns[], ratios: Ratios, goals: Goal[]): string {
  const out: string[] = [];
  const header = ['target', 'mode', 'req/s c=64', 'p50 c=64', 'p99 c=64', 'req/s c=1', 'p50 c=1', 'p99 c=1', 'steal max', 'status'];
  const rows: string[][] = [];
  let stolen = 0;
  for (const t of targets) {
    for (const mode of MODES) {
      const s = summarize(t.runs[mode]);
      if (t.errors.length > 0 || s === null) {
        rows.push([t.name, MODE_LABEL[mode], '-', '-', '-', '-', '-', '-', '-', 'ERROR']);
        continue;
      }
      const ms = (x: number): string => `${x.toFixed(2)} ms`;
      rows.push([
        t.name,
        MODE_LABEL[mode],
        Math.round(s.rps64).toLocaleString('en-US'),
        ms(s.p50_64),
        ms(s.p99_64),
        Math.round(s.rps1).toLocaleString('en-US'),
        ms(s.p50_1),
        ms(s.p99_1),
        s.stealMaxPct === null ? 'n/a' : `${s.stealMaxPct.toFixed(1)}%`,
        s.clean ? 'ok' : 'NON-2XX/ERRORS',
      ]);
      if (s.stealMaxPct !== null && s.stealMaxPct > STEAL_WARN_PCT) stolen++;
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  out.push(pad(header, widths), widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) out.push(pad(r, widths));
  const rounds = Math.max(0, ...targets.flatMap((t) => MODES.map((m) => t.runs[m].length)));
  if (rounds > 1) out.push(`(medians of ${rounds} rounds)`);
  out.push("(steal max: the largest share of this VM's CPU time the hypervisor gave to other guests during one of the row's wrk runs)");
  const stealKnown = targets.some((t) => MODES.some((m) => t.runs[m].some((r) => r.c64.stealPct !== null || r.c1.stealPct !== null)));
  if (!stealKnown) {
    out.push(
      '(steal n/a: this kernel has counted no steal since boot (bare metal, or a hypervisor that does not report it), ' +
        'or there is no /proc/stat; a noisy host is then invisible here: compare ratios from the same round, and repeat with --rounds)',
    );
  }
  if (stolen > 0) {
    out.push(
      `WARNING: in ${stolen} row(s) the hypervisor took over ${STEAL_WARN_PCT}% of this VM's CPU during a run; ` +
        'those figures say more about the machine than about the target (see results/latest.json for each run).',
    );
  }

  const problems = targets.flatMap((t) => [
    ...t.errors.map((e) => `${t.name}: ${e}`),
    ...MODES.flatMap((m) => t.runs[m].flatMap((r) => r.problems.map((p) => `${t.name} ${MODE_LABEL[m]}: ${p}`))),
  ]);
  if (problems.length > 0) {
    out.push('', 'PROBLEMS (figures of a target with problems are not used in ratios):');
    for (const p of problems) out.push(`  - ${p.split('\n').join('\n    ')}`);
  }

  out.push('', rounds > 1 ? `Ratios (medians of the ${rounds} rounds' own ratios):` : 'Ratios (same run):');
  for (const mode of MODES) {
    out.push(
      `  ${MODE_LABEL[mode].padEnd(10)}  gateway/direct req/s ${ratio(ratios.gateway_over_direct_rps[mode])}` +
        `   gateway/peer req/s ${ratio(ratios.gateway_over_peer_rps[mode])}` +
        `   gateway/bare req/s ${ratio(ratios.gateway_over_bare_rps[mode])}   bare/direct req/s ${ratio(ratios.bare_over_direct_rps[mode])}` +
        `   nginx/direct req/s ${ratio(ratios.nginx_over_direct_rps[mode])}`,
    );
  }
  if (rounds > 1) {
    const each = (xs: number[]): string => (xs.length === 0 ? 'n/a' : xs.map((x) => x.toFixed(2)).join(' '));
    for (const mode of MODES) {
      const br = ratios.by_round;
      out.push(
        `  ${MODE_LABEL[mode].padEnd(10)}  by round: gateway/direct ${each(br.gateway_over_direct_rps[mode])}` +
          `   gateway/bare ${each(br.gateway_over_bare_rps[mode])}   bare/direct ${each(br.bare_over_direct_rps[mode])}` +
          `   nginx/direct ${each(br.nginx_over_direct_rps[mode])}`,
      );
    }
  }
  for (const mode of MODES) {
    const g = ratios.gateway_added_ms_c1[mode];
    const p = ratios.peer_added_ms_c1[mode];
    const b = ratios.bare_added_ms_c1[mode];
    const added = (a: { p50: number; p99: number } | null): string => (a === null ? 'n/a' : `p50 ${signed(a.p50)} ms, p99 ${signed(a.p99)} ms`);
    out.push(
      `  ${MODE_LABEL[mode].padEnd(10)}  added at c=1: gateway ${added(g)}   bare ${added(b)}   nginx ${added(ratios.nginx_added_ms_c1[mode])}   peer ${added(p)}`,
    );
  }

  out.push('', 'Goals:');
  for (const g of goals) {
    const mark = g.met === null ? 'N/A ' : g.met ? 'MET ' : 'MISS';
    out.push(`  [${mark}] ${g.goal}: ${g.measured}`);
  }
  return out.join('\n');
}
