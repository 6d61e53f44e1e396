import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeRatios, evaluateGoals, renderReport, type ModeRun, type TargetRuns } from '../../bench/lib/report.ts';
import type { WrkResult } from '../../bench/lib/wrk.ts';

// The bench measures its targets in turns, round after round, because the machine's
// speed drifts over minutes: a ratio is taken within each round and the rounds'
// ratios are summarised, never the ratio of two targets' medians taken minutes apart.

function wrk(rps: number, p50: number, p99: number): WrkResult {
  return {
    connections: 64, requests: rps * 5, durationS: 5, rps, bytesPerResponse: 500, non2xx: 0,
    socketErrors: { connect: 0, read: 0, write: 0, timeout: 0 },
    latencyMs: { mean: p50, p50, p90: p50, p99, p999: p99, max: p99 },
    stealPct: null,
  };
}

function target(name: TargetRuns['name'], rounds: Array<{ rps: number; p50: number; p99: number }>): TargetRuns {
  const runs: ModeRun[] = rounds.map((r) => ({ c64: wrk(r.rps, 5, 10), c1: wrk(1000, r.p50, r.p99), problems: [] }));
  return { name, info: {}, errors: [], runs: { nonstream: runs, stream: [...runs] } };
}

test('req/s ratios are the median of each round\'s own ratio, not a ratio of medians', () => {
  // Round by round the gateway keeps 0.80, 0.75 and 0.45 of direct: median 0.75.
  // The medians of the two targets (9,000 and 20,000) would say 0.45.
  const direct = target('direct', [{ rps: 10_000, p50: 0.1, p99: 0.5 }, { rps: 40_000, p50: 0.1, p99: 0.5 }, { rps: 20_000, p50: 0.2, p99: 0.9 }]);
  const gateway = target('gateway', [{ rps: 8_000, p50: 0.3, p99: 1.5 }, { rps: 30_000, p50: 0.5, p99: 4 }, { rps: 9_000, p50: 0.4, p99: 1.0 }]);
  const nginx = target('nginx', [{ rps: 9_000, p50: 0.15, p99: 2.5 }, { rps: 36_000, p50: 0.15, p99: 2.5 }, { rps: 18_000, p50: 0.25, p99: 2.9 }]);
  const r = computeRatios([direct, nginx, gateway]);
  assert.deepEqual(r.by_round.gateway_over_direct_rps.nonstream, [0.8, 0.75, 0.45]);
  assert.deepEqual(r.by_round.nginx_over_direct_rps.nonstream, [0.9, 0.9, 0.9]);
  // nginx's added p99 (+2.0 each round) is reported beside the gateway's: the floor a relay pays here.
  assert.ok(Math.abs(r.nginx_added_ms_c1.nonstream!.p99 - 2.0) < 1e-9);
  assert.equal(r.gateway_over_direct_rps.nonstream, 0.75);
  // Added latency: the rounds' differences are +0.2, +0.4, +0.2 (p50) and +1.0, +3.5, +0.1 (p99).
  const added = r.gateway_added_ms_c1.nonstream!;
  assert.ok(Math.abs(added.p50 - 0.2) < 1e-9, String(added.p50));
  assert.ok(Math.abs(added.p99 - 1.0) < 1e-9, String(added.p99));
  const goals = evaluateGoals(r);
  assert.equal(goals.find((g) => g.goal.startsWith('c=64 non-stream'))!.met, true);
  const text = renderReport([direct, nginx, gateway], r, goals);
  assert.match(text, /nginx p50 \+0\.05 ms, p99 \+2\.00 ms/);
  assert.match(text, /by round: gateway\/direct 0\.80 0\.75 0\.45/);
  assert.match(text, /medians of the 3 rounds' own ratios/);
});

test('a target with a failed round is left out of every ratio', () => {
  const direct = target('direct', [{ rps: 10_000, p50: 0.1, p99: 0.5 }, { rps: 10_000, p50: 0.1, p99: 0.5 }]);
  const gateway = target('gateway', [{ rps: 6_000, p50: 0.3, p99: 1.5 }, { rps: 6_000, p50: 0.3, p99: 1.5 }]);
  gateway.runs.stream[1] = { ...gateway.runs.stream[1], problems: ['c=64: 12 non-2xx responses'] };
  const r = computeRatios([direct, gateway]);
  assert.equal(r.gateway_over_direct_rps.nonstream, 0.6);
  assert.equal(r.gateway_over_direct_rps.stream, null);
  assert.deepEqual(r.by_round.gateway_over_direct_rps.stream, []);
  assert.equal(r.gateway_added_ms_c1.stream, null);
});
