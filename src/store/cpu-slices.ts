// A thread that shares a core with the event loop must not hold it for long. A journal
// flush of a few dozen rows runs 0.6–1.6 ms of CPU, and Linux's scheduler let such a
// burst run to its end before the woken event loop got the core back: on one core, a
// request that arrived during a flush waited for all of it (bench/README.md, "What
// delays a request at c=1"). Sleeping for a moment every slice of work hands the core
// to whoever is waiting; when no one is, a sleep costs the flush ~60 µs of wall time
// and the thread a few µs of CPU.

/**
 * Work between two sleeps, in ms. Each sleep costs the thread a few microseconds of CPU
 * (futex, timer, switching back); at 0.1 ms a batch of 90 requests slept 5 times and
 * cost ~2.5 µs more per request in a loop, at 0.25 ms 3 times and ~0.6 µs.
 */
export const SLICE_MS = 0.25;
/** How long each sleep asks for, in ms; the kernel's timer slack (50 µs) adds to it. */
export const SLEEP_MS = 0.005;

/**
 * Returns a function to call between units of work: it sleeps briefly (blocking the
 * thread, so only for worker threads) once `sliceMs` of wall time has passed since the
 * last sleep, and does nothing otherwise.
 */
export function cpuSlicer(sliceMs = SLICE_MS, sleepMs = SLEEP_MS): { pause(): void; readonly sleeps: number } {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  let since = performance.now();
  let sleeps = 0;
  return {
    pause() {
      if (performance.now() - since < sliceMs) return;
      Atomics.wait(cell, 0, 0, sleepMs);
      sleeps++;
      since = performance.now();
    },
    get sleeps() {
      return sleeps;
    },
  };
}
