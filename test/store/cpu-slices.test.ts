import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuSlicer } from '../../src/store/cpu-slices.ts';

// The journal thread's pauses: none while a slice of work is running, one sleep as soon
// as the slice is used up, and the sleep really blocks the thread (so the core is free).

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('no sleep before a slice of work is used up', () => {
  const s = cpuSlicer(50, 5);
  for (let i = 0; i < 1000; i++) s.pause();
  assert.equal(s.sleeps, 0);
});

test('one sleep once the slice is used up, then a new slice begins', () => {
  const s = cpuSlicer(2, 1);
  spin(3);
  const before = performance.now();
  s.pause();
  const slept = performance.now() - before;
  assert.equal(s.sleeps, 1);
  assert.ok(slept >= 0.9, `the pause blocked for ${slept} ms, not the 1 ms asked`);
  s.pause();
  assert.equal(s.sleeps, 1, 'the next slice starts after the sleep');
  spin(3);
  s.pause();
  assert.equal(s.sleeps, 2);
});

test('the sleep is a blocking wait: it costs the thread almost no CPU', () => {
  const s = cpuSlicer(0, 20);
  const cpu = process.cpuUsage();
  for (let i = 0; i < 10; i++) s.pause();
  const used = process.cpuUsage(cpu);
  assert.equal(s.sleeps, 10);
  // 200 ms asleep; a busy wait would have used about that much CPU.
  assert.ok(used.user + used.system < 50_000, `10 pauses of 20 ms used ${used.user + used.system} µs of CPU`);
});
