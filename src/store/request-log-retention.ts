import type { Logger } from 'pino';
import type { StoreMaintenance } from './maintenance.ts';
import { pruneCutoff } from './prune.ts';

const HOUR_MS = 3_600_000;

/**
 * Deletes request-log rows older than `retentionDays` at start and then every hour, on the
 * maintenance thread (a run never overlaps the previous one). The ledger is never pruned.
 */
export function scheduleRequestLogRetention(
  maintenance: StoreMaintenance,
  opts: { retentionDays: number; requestTimeoutMs: number; log: Logger; everyMs?: number },
): { stop(): void } {
  let running = false;
  let stopped = false;
  const run = () => {
    if (running || stopped) return;
    running = true;
    const cutoff = pruneCutoff(Date.now(), opts.retentionDays, opts.requestTimeoutMs);
    maintenance
      .pruneRequestLog(cutoff)
      .then(
        (deleted) => {
          if (deleted > 0) opts.log.info({ deleted, before: new Date(cutoff).toISOString() }, 'request log pruned (request_log.retention_days)');
        },
        (err: unknown) => stopped || opts.log.error({ err }, 'request log pruning failed; retried within the hour'),
      )
      .finally(() => {
        running = false;
      });
  };
  const first = setTimeout(run, 0);
  const timer = setInterval(run, opts.everyMs ?? HOUR_MS);
  first.unref();
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}
