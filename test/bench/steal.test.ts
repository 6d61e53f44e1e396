import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { cpuTimes, stealPct } from '../../bench/lib/steal.ts';
import { renderReport, computeRatios, evaluateGoals, type TargetRuns } from '../../bench/lib/report.ts';
import type { WrkResult } from '../../bench/lib/wrk.ts';

// The bench reports how much CPU the hypervisor took while it measured, and warns when
// that was enough to make the figures the machine's rather than the target's.

test('steal is the stolen share of all CPU time between two readings', () => {
  assert.equal(stealPct({ steal: 100, total: 10_000 }, { steal: 130, total: 10_200 }), 15);
  assert.equal(stealPct({ steal: 5, total: 100 }, { steal: 5, total: 300 }), 0);
  // No steal counted since boot: the hypervisor does not report it (PVM), so it is unknown, not 0%.
  assert.equal(stealPct({ steal: 0, total: 100 }, { steal: 0, total: 300 }), null);
  assert.equal(stealPct(null, { steal: 1, total: 2 }), null);
  assert.equal(stealPct({ steal: 1, total: 2 }, { steal: 1, total: 2 }), null, 'no time passed');
});

test('cpuTimes reads /proc/stat on Linux', { skip: os.platform() !== 'linux' && 'needs /proc/stat (Linux)' }, () => {
  const a = cpuTimes();
  assert.ok(a !== null);
  assert.ok(a.total > 0 && a.steal >= 0 && a.steal <= a.total);
  const end = Date.now() + 30;
  while (Date.now() < end);
  const b = cpuTimes()!;
  assert.ok(b.total >= a.total && b.steal >= a.steal);
});

function wrk(rps: number, stealPct: number | null): WrkResult {
  return {
    connections: 64, requests: rps * 5, durationS: 5, rps, bytesPerResponse: 500, non2xx: 0,
    socketErrors: { connect: 0, read: 0, write: 0, timeout: 0 },
    latencyMs: { mean: 1, p50: 1, p90: 1, p99: 2, p999: 3, max: 4 },
    stealPct,
  };
}

function target(name: 'direct' | 'gateway', rps: number, steal: number | null): TargetRuns {
  const run = { c64: wrk(rps, steal), c1: wrk(rps / 2, steal === null ? null : 1), problems: [] };
  return { name, info: {}, errors: [], runs: { nonstream: [run], stream: [run] } };
}

test('the report shows each row\'s highest steal and warns above 10%', () => {
  const quiet = [target('direct', 10_000, 2), target('gateway', 5_000, 3.25)];
  const calm = renderReport(quiet, computeRatios(quiet), evaluateGoals(computeRatios(quiet)));
  assert.match(calm, /gateway +non-stream .* 3\.3% +ok/);
  assert.doesNotMatch(calm, /WARNING/);

  const noisy = [target('direct', 10_000, 2), target('gateway', 5_000, 31)];
  const text = renderReport(noisy, computeRatios(noisy), evaluateGoals(computeRatios(noisy)));
  assert.match(text, /gateway +stream .* 31\.0% +ok/);
  assert.match(text, /WARNING: in 2 row\(s\) the hypervisor took over 10%/);

  const unknown = [target('direct', 10_000, null), target('gateway', 5_000, null)];
  const blind = renderReport(unknown, computeRatios(unknown), evaluateGoals(computeRatios(unknown)));
  assert.match(blind, /gateway +non-stream .* n\/a +ok/);
  assert.match(blind, /steal n\/a: this kernel has counted no steal since boot/);
  assert.doesNotMatch(calm, /steal n\/a/);
});
