import type { UpstreamErrorInfo } from '../providers/types.ts';
import type { Upstream } from './upstreams.ts';

// The one door through which what an upstream says about a failure (its error body, an
// error frame in its stream) reaches a client, the request log or our logs. Every string
// passes through `scrubUpstreamText`; only OpenAI's error members (message, type, param,
// code) are kept at all, because adapters read nothing else into UpstreamErrorInfo, and
// `type` and `code` pass only as short identifiers (they end up as the client's error
// code and as requests.error_code).

/** All the scrub needs of an upstream: its configured key and base URL. */
export type ScrubbedUpstream = Pick<Upstream, 'config'>;

const REDACTED = '[redacted]';
const UPSTREAM = '[upstream]';
const MAX_MESSAGE_CHARS = 1000;
const MAX_PARAM_CHARS = 200;
/** Shorter keys are not looked for at all: they are placeholders ("EMPTY", "none"). */
const MIN_KEY_CHARS = 6;
/**
 * Fragments of a key are only looked for in keys at least this long. Shorter ones are
 * placeholders for upstreams that need none (vLLM's "EMPTY", "ollama"), whose fragments
 * are ordinary words; every real provider key is longer (OpenAI 51+, Gemini 39, DeepSeek 35).
 */
const MIN_FRAGMENT_KEY_CHARS = 16;
/** The shortest tail of the key redacted where it ends a word (OpenAI echoes the last 4). */
const MIN_TAIL_CHARS = 4;
/** The shortest head of the key redacted where it starts a word (a key cut off by truncation). */
const MIN_HEAD_CHARS = 6;
/**
 * What marks a masked secret as providers echo it: a run of 3+ `*` inside a word of key
 * characters ("sk-UPSTR*************-123"). The whole word goes, whichever key it masks:
 * the visible ends are what a mask leaks. Ordinary error text has no run of asterisks.
 */
const MASK = '***';
/** Characters that continue a word of a key (base64url and the usual separators). */
const KEY_CHAR = /[\w-]/;
/** A `type` or `code` worth passing on: "invalid_value", "1001", "RESOURCE_EXHAUSTED". */
const IDENTIFIER = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * `text` without the upstream's key, URL or host. Rules, in order:
 * 1. the whole key (6+ characters) → [redacted];
 * 2. a masked secret (MASK) → [redacted];
 * 3. for keys of 16+ characters, fragments of the key that a provider echoes or a
 *    truncation leaves: 4+ characters that end the key where they end a word ("…-123"),
 *    and 6+ that start the key where they start a word ("sk-UPS…"), each grown for as
 *    long as the text goes on matching the key → [redacted]. Tied to word ends, a random
 *    key's 4-character tail turns up in ordinary text about once in 15 million words;
 *    its middle is never looked for;
 * 4. the base URL, its host (with port) and hostname → [upstream].
 * Rule 1 also takes the key in any letter case and base64-encoded (alone, or as
 * "Bearer <key>", as a proxy echoes an Authorization header), and rule 3 any word of
 * 12+ key characters found anywhere in the key, in any case (a middle cut out of it).
 * Members are cut to length only after this, so no cut here splits a key out of reach;
 * a cut an adapter made earlier (300 characters of a plain-text body) leaves at most a
 * head of the key, which rule 3 takes from 6 characters on.
 */
export function scrubUpstreamText(text: string, upstream: ScrubbedUpstream): string {
  const key = upstream.config.api_key;
  let t = text;
  if (key.length >= MIN_KEY_CHARS) t = redactEncoded(t, key);
  if (t.includes(MASK)) t = redactMasked(t);
  if (key.length >= MIN_FRAGMENT_KEY_CHARS) t = redactInner(redactHead(redactTail(t, key), key), key);
  for (const secret of headerSecrets(upstream)) t = redactInner(redactHead(redactTail(redactEncoded(t, secret), secret), secret), secret);
  const baseUrl = upstream.config.base_url;
  const url = new URL(baseUrl);
  t = t.replaceAll(baseUrl, UPSTREAM).replaceAll(url.host, UPSTREAM);
  if (url.hostname !== url.host) t = t.replaceAll(url.hostname, UPSTREAM);
  return t;
}

/**
 * Keys an operator put in the provider's `headers` (Azure's `api-key`, a proxy's own
 * token, a second bearer token): each value's last word (after `Bearer `), when it looks
 * like a key: 16+ key or base64 characters with a letter, and a digit unless it has no
 * slash (`proxytokenABCDEFGHIJKLMNOP` is one; `application/json` is not). Shorter values
 * (an organization id) are ordinary words an error may well hold.
 */
function headerSecrets(upstream: ScrubbedUpstream): string[] {
  const out: string[] = [];
  const headers = upstream.config.headers;
  for (const name in headers) {
    const value = headers[name]!.trim();
    const secret = value.slice(value.lastIndexOf(' ') + 1);
    // A value with a slash and no digit is a media type or a path, not a secret.
    if (secret.length >= MIN_FRAGMENT_KEY_CHARS && secret !== upstream.config.api_key && /^[\w+/=.~-]+$/.test(secret) && /[A-Za-z]/.test(secret) && (/\d/.test(secret) || !secret.includes('/'))) out.push(secret);
  }
  return out;
}

/** `info` as it may leave the gateway: every string scrubbed and bounded, `type` and `code` only as identifiers. */
export function scrubErrorInfo(info: UpstreamErrorInfo, upstream: ScrubbedUpstream): UpstreamErrorInfo {
  // Cut first, with room for any secret (or its base64) that reaches past the final cut,
  // so that a megabyte of message costs the scrub no more than its first kilobytes.
  const room = MAX_MESSAGE_CHARS + 4096;
  return {
    message: bounded(scrubUpstreamText(info.message.length > room ? info.message.slice(0, room) : info.message, upstream), MAX_MESSAGE_CHARS),
    type: identifier(info.type, upstream),
    code: identifier(info.code, upstream),
    param: info.param === undefined ? undefined : bounded(scrubUpstreamText(info.param, upstream), MAX_PARAM_CHARS),
    credentialsRejected: info.credentialsRejected,
    fundsExhausted: info.fundsExhausted,
    retryAfterSeconds: info.retryAfterSeconds,
  };
}

/** Free text, a URL or a redacted key is no code: undefined, so the caller uses its own. */
function identifier(value: string | undefined, upstream: ScrubbedUpstream): string | undefined {
  if (value === undefined) return undefined;
  const scrubbed = scrubUpstreamText(value, upstream);
  return IDENTIFIER.test(scrubbed) ? scrubbed : undefined;
}

function bounded(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function isKeyChar(text: string, at: number): boolean {
  return at >= 0 && at < text.length && KEY_CHAR.test(text[at]!);
}

// The searches below are by hand rather than by regular expression: an upstream's error
// body has no size limit, and each of them stays linear in it.

function redactMasked(text: string): string {
  let out = '';
  let from = 0;
  for (let i = text.indexOf(MASK); i !== -1; i = text.indexOf(MASK, from)) {
    let start = i;
    while (start > from && isKeyChar(text, start - 1)) start--;
    let end = i;
    while (end < text.length && (text[end] === '*' || isKeyChar(text, end))) end++;
    out += text.slice(from, start) + REDACTED;
    from = end;
  }
  return out + text.slice(from);
}

function redactTail(text: string, key: string): string {
  const tail = key.slice(-MIN_TAIL_CHARS);
  let out = '';
  let from = 0;
  for (let i = text.indexOf(tail); i !== -1; i = text.indexOf(tail, i + 1)) {
    const end = i + tail.length;
    if (i < from || isKeyChar(text, end)) continue;
    let start = i;
    for (let k = key.length - tail.length; start > from && k > 0 && text[start - 1] === key[k - 1]; k--) start--;
    out += text.slice(from, start) + REDACTED;
    from = end;
  }
  return from === 0 ? text : out + text.slice(from);
}

function redactHead(text: string, key: string): string {
  const head = key.slice(0, MIN_HEAD_CHARS);
  let out = '';
  let from = 0;
  for (let i = text.indexOf(head); i !== -1; i = text.indexOf(head, i + 1)) {
    if (i < from || isKeyChar(text, i - 1)) continue;
    let end = i + head.length;
    for (let k = head.length; end < text.length && k < key.length && text[end] === key[k]; k++) end++;
    out += text.slice(from, i) + REDACTED;
    from = end;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** The secret redacted as it is, in any letter case, and base64-encoded (alone or after "Bearer "). */
function redactEncoded(text: string, secret: string): string {
  let t = text.replaceAll(secret, REDACTED);
  for (const form of [Buffer.from(secret).toString('base64'), Buffer.from(`Bearer ${secret}`).toString('base64')]) {
    t = t.replaceAll(form, REDACTED).replaceAll(form.replace(/=+$/, ''), REDACTED);
    const url = form.replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
    t = t.replaceAll(url, REDACTED);
  }
  const lower = secret.toLowerCase();
  const lowered = t.toLowerCase();
  if (lowered.length !== t.length || !lowered.includes(lower)) return t;
  let out = '';
  let from = 0;
  for (let i = lowered.indexOf(lower); i !== -1; i = lowered.indexOf(lower, from)) {
    out += t.slice(from, i) + REDACTED;
    from = i + lower.length;
  }
  return out + t.slice(from);
}

/** The shortest word of key characters redacted wherever in the key it is found. */
const MIN_INNER_CHARS = 12;

/** Runs of MIN_INNER_CHARS+ key characters that are part of the key (any case): a middle
 *  cut out of it. Linear in the text: each place is looked up once among the key's
 *  MIN_INNER_CHARS-character pieces; a match is grown at most to the key's length. */
function redactInner(text: string, key: string): string {
  const lowerKey = key.toLowerCase();
  const lowered = text.toLowerCase();
  if (lowered.length !== text.length) return text; // a case change that moves characters: left as it is
  const pieces = new Set<string>();
  for (let i = 0; i + MIN_INNER_CHARS <= lowerKey.length; i++) pieces.add(lowerKey.slice(i, i + MIN_INNER_CHARS));
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; ) {
    if (!isKeyChar(text, i)) {
      i++;
      continue;
    }
    let end = i;
    while (end < text.length && isKeyChar(text, end)) end++;
    for (let a = i; a + MIN_INNER_CHARS <= end; ) {
      if (!pieces.has(lowered.slice(a, a + MIN_INNER_CHARS))) {
        a++;
        continue;
      }
      let b = a + MIN_INNER_CHARS;
      while (b < end && b - a < lowerKey.length && lowerKey.includes(lowered.slice(a, b + 1))) b++;
      out += text.slice(from, a) + REDACTED;
      from = b;
      a = b;
    }
    i = end;
  }
  return from === 0 ? text : out + text.slice(from);
}
