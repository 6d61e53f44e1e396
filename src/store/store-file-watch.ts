import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import type { WriteBehind } from './write-behind.ts';

/** How often the store's file is checked to be the one open (see watchStoreFile). */
const STORE_WATCH_MS = 5_000;

/**
 * A store file deleted (or replaced) while the gateway runs keeps taking writes into the
 * unlinked file, which is gone when the process ends: before, requests and admin credits
 * went on succeeding, the shutdown reported a clean stop, and the next start made an empty
 * store. Checked every few seconds: once the path no longer names the open file, the
 * gateway logs it, takes no more requests (the journal is marked lost: 503
 * store_unavailable, /healthz 503), and its shutdown fails.
 */
export function watchStoreFile(file: string, journal: WriteBehind, log: Logger, everyMs = STORE_WATCH_MS): NodeJS.Timeout {
  const { dev, ino } = statSync(file);
  const timer = setInterval(() => {
    let now: { dev: number; ino: number } | null = null;
    try {
      now = statSync(file);
    } catch {
      /* gone */
    }
    if (now && now.dev === dev && now.ino === ino) return;
    const reason = `the store file ${file} was ${now ? 'replaced' : 'deleted'} while the gateway ran`;
    log.error({ file }, `${reason}; taking no more requests (restore it and restart)`);
    journal.markLost(reason);
    clearInterval(timer);
  }, everyMs);
  timer.unref();
  return timer;
}
