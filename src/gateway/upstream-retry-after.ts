// The Retry-After the client gets when an upstream rate limits the operator. The
// upstream's header is never copied as it came: only a value that is a wait can carry
// nothing else (a key, a host), so it passes only as whole seconds.

/** When the upstream says nothing usable: retry after a second, as the gateway always did. */
const DEFAULT_SECONDS = 1;
/** Delta-seconds (RFC 9110 §10.2.3): digits only. Nine of them is over 31 years. */
const DELTA_SECONDS = /^\d{1,9}$/;
/**
 * An HTTP-date in its preferred form, IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"). The
 * two obsolete forms are not read: Date.parse takes asctime's as local time, and no
 * provider sends them. A date becomes the seconds left until it.
 */
const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;

/**
 * Seconds to wait, as a header value: the upstream's header if it is one, else what its
 * error body said (`bodySeconds`), else the default.
 */
export function retryAfterFromUpstream(header: string | undefined, bodySeconds: number | undefined, nowMs = Date.now()): string {
  const value = header?.trim();
  if (value !== undefined) {
    if (DELTA_SECONDS.test(value)) return capped(Number(value));
    if (IMF_FIXDATE.test(value)) {
      const at = Date.parse(value);
      if (Number.isFinite(at)) return capped(Math.max(0, Math.ceil((at - nowMs) / 1000)));
    }
  }
  if (bodySeconds !== undefined && Number.isSafeInteger(bodySeconds) && bodySeconds >= 0) return capped(bodySeconds);
  return String(DEFAULT_SECONDS);
}

/**
 * At most a day: every provider's limits reset within one (a daily quota at the latest),
 * and a client told to wait 31 years by a broken upstream would stop for good; a retry
 * after a day that meets the limit again is told again.
 */
const MAX_SECONDS = 86_400;

function capped(seconds: number): string {
  return String(Math.min(seconds, MAX_SECONDS));
}
