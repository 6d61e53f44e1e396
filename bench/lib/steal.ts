// CPU time the hypervisor gave to other guests while a measurement ran ("steal" in
// /proc/stat). On a shared VM it is the clearest sign that a figure says more about
// the machine than about the target: on 2026-12-01 the gateway's c=1 p50 went from
// 0.35 to 1.2 ms in the seconds when steal rose from ~1% to ~30%, and every thread's
// CPU per request doubled with it (bench/README.md).

import fs from 'node:fs';

export interface CpuTimes {
  steal: number;
  total: number;
}

/** All CPUs' times since boot, in ticks; null where /proc/stat is missing (not Linux). */
export function cpuTimes(): CpuTimes | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal [guest guest_nice]: guest time
    // is already inside user and nice, so the total stops at steal.
    const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return null;
    return { steal: f[7]!, total: f.reduce((a, b) => a + b, 0) };
  } catch {
    return null;
  }
}

/**
 * Percentage of all CPU time stolen between two readings; null when unknown: a reading
 * is missing, or the kernel has counted no steal at all since boot. That is bare metal,
 * or a hypervisor that does not report steal: under PVM (2026-12-01, `dmesg` says
 * "Hypervisor detected: PVM") steal stays 0 while the same relay's req/s halves from one
 * second to the next, so printing 0% there would call a noisy machine quiet.
 */
export function stealPct(before: CpuTimes | null, after: CpuTimes | null): number | null {
  if (before === null || after === null || after.total <= before.total || after.steal === 0) return null;
  return (100 * (after.steal - before.steal)) / (after.total - before.total);
}
