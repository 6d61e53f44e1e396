import type { LimitDecision } from './limiter.ts';

// Rate-limit response headers.
//   OpenAI's:  x-ratelimit-{limit,remaining,reset}-requests and -tokens, the reset as a
//              duration in Go's format ("1s", "6m0s", "250ms", "1.5s").
//   Seed 004:  X-RateLimit-Limit / -Remaining / -Reset (ISO 8601), for requests per minute.
// Both request trios appear only when a requests-per-minute limit applies to the key;
// the token trio only when a tokens-per-minute limit does.

/** A duration in Go's time.Duration format, as OpenAI sends it; rounded up to the ms. */
export function formatDuration(ms: number): string {
  if (!(ms > 0)) return '0s';
  const total = Math.ceil(ms);
  if (total < 1000) return `${total}ms`;
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const s = (total % 60_000) / 1000;
  const sec = `${Number.isInteger(s) ? s : s.toFixed(3).replace(/0+$/, '')}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}

/** Whole seconds for Retry-After, rounded up, at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

// An admitted request's reset is always the whole window from now, so consecutive
// requests mostly share these values: the last one of each is kept (a per-request Date
// and ISO string showed in the bench profile). The reset time moves every millisecond,
// so its date and time are kept to the second and only the milliseconds are written per
// request: Date's toISOString (formatted with snprintf) was 2% of the main thread's
// instructions whenever requests were more than a millisecond apart.
let isoSecond = NaN;
/** `YYYY-MM-DDTHH:MM:SS.` of isoSecond. */
let isoPrefix = '';
let lastDurationMs = NaN;
let lastDuration = '';

/** `new Date(ms).toISOString()`. */
function isoAt(ms: number): string {
  const t = Math.trunc(ms); // as Date does
  const second = Math.floor(t / 1000);
  if (second !== isoSecond) {
    isoPrefix = new Date(second * 1000).toISOString().slice(0, -4);
    isoSecond = second;
  }
  const milli = t - second * 1000;
  return `${isoPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

function durationOf(ms: number): string {
  if (ms !== lastDurationMs) {
    lastDurationMs = ms;
    lastDuration = formatDuration(ms);
  }
  return lastDuration;
}

export function requestHeaders(out: Record<string, string>, limit: number, d: LimitDecision, now: number): void {
  const remaining = String(Math.max(0, Math.floor(d.remaining)));
  const limitText = String(limit);
  out['x-ratelimit-limit-requests'] = limitText;
  out['x-ratelimit-remaining-requests'] = remaining;
  out['x-ratelimit-reset-requests'] = durationOf(d.resetMs);
  out['X-RateLimit-Limit'] = limitText;
  out['X-RateLimit-Remaining'] = remaining;
  out['X-RateLimit-Reset'] = isoAt(now + Math.ceil(d.resetMs));
}

export function tokenHeaders(out: Record<string, string>, limit: number, d: LimitDecision): void {
  out['x-ratelimit-limit-tokens'] = String(limit);
  out['x-ratelimit-remaining-tokens'] = String(Math.max(0, Math.floor(d.remaining)));
  out['x-ratelimit-reset-tokens'] = formatDuration(d.resetMs);
}
