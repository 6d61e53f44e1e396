// Changes a few top-level members of a JSON object text and leaves every other byte as
// the client sent it.
//
// Why not JSON.stringify of the parsed body: a coding assistant's request is tens of KB
// of messages, and re-serialising 39 KB took ~63 µs per request (more than the rest of
// the gateway's work), only to change `model` and `stream_options`. Re-serialising also
// changes what the client sent: an integer above 2^53 (a `seed`, say) loses digits and
// `1.0` becomes `1`. Here the text is walked once at the top level; strings are skipped
// with indexOf, so the cost follows the number of quotes, not of characters: the same
// 39 KB (code, full of quotes) took 16–30 µs against 54–84 µs for JSON.stringify. On a
// 100-byte body it is 0.3–0.6 µs slower than JSON.stringify; byte-exact either way wins.

import { toByteString } from './byte-strings.ts';

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const COMMA = 44;
const COLON = 58;

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

function skipSpace(text: string, i: number): number {
  while (isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** Index of the quote that closes the string opening at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q === -1) return -1;
    let k = q - 1;
    while (text.charCodeAt(k) === BACKSLASH) k--;
    // An even run of backslashes escapes itself, not the quote.
    if ((q - 1 - k) % 2 === 0) return q;
    from = q + 1;
  }
}

/**
 * Past this many characters a container is skipped by largeContainerEnd. Below it the
 * character loop is faster (a 300-byte answer: 0.2–0.35 µs against 0.6–0.9; 23 KB of
 * text and tool calls: 49–63 against 60–80 µs).
 */
const LARGE_VALUE = 64 * 1024;
const STRUCTURAL = /["{}[\]]/g;

/**
 * End (exclusive) of the object or array opening at `i`, or -1, jumping from one
 * structural character to the next with a regular expression instead of reading every
 * character: an embeddings answer is megabytes of digits (2048 × 3072 floats, 130 MB)
 * and the loop took 350–520 ms of the event loop for 79 MB of them, this 7–13 ms.
 */
function largeContainerEnd(text: string, i: number): number {
  let depth = 0;
  STRUCTURAL.lastIndex = i;
  for (let m = STRUCTURAL.exec(text); m !== null; m = STRUCTURAL.exec(text)) {
    const j = m.index;
    const d = text.charCodeAt(j);
    if (d === QUOTE) {
      const e = stringEnd(text, j);
      if (e === -1) return -1;
      STRUCTURAL.lastIndex = e + 1;
    } else if (d === OPEN_BRACE || d === OPEN_BRACKET) {
      depth++;
    } else if (--depth === 0) {
      return j + 1;
    }
  }
  return -1;
}

/** End (exclusive) of the JSON value starting at `i`, or -1. */
function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) {
    const e = stringEnd(text, i);
    return e === -1 ? -1 : e + 1;
  }
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    if (text.length - i > LARGE_VALUE) return largeContainerEnd(text, i);
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const d = text.charCodeAt(j);
      if (d === QUOTE) {
        j = stringEnd(text, j);
        if (j === -1) return -1;
      } else if (d === OPEN_BRACE || d === OPEN_BRACKET) {
        depth++;
      } else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
        if (--depth === 0) return j + 1;
      }
    }
    return -1;
  }
  // A number, true, false or null: up to the next delimiter.
  let j = i;
  while (j < text.length) {
    const d = text.charCodeAt(j);
    if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || isSpace(d)) break;
    j++;
  }
  return j === i ? -1 : j;
}

/** Which of `names` the member name in text[start+1, end) is, or -1. */
function nameIndex(text: string, start: number, end: number, names: readonly string[]): number {
  for (let k = start + 1; k < end; k++) {
    if (text.charCodeAt(k) === BACKSLASH) {
      // A name with escapes (`"mo\u0064el"`) is compared by what it means.
      return names.indexOf(JSON.parse(text.slice(start, end + 1)) as string);
    }
  }
  const length = end - start - 1;
  for (let n = 0; n < names.length; n++) if (names[n]!.length === length && text.startsWith(names[n]!, start + 1)) return n;
  return -1;
}

/**
 * Walks the top-level members of a JSON object text and calls `visit(n, start, end)` for
 * each one named `names[n]`, with its value at text[start, end); `visit` returns false to
 * give up. Returns the index of the closing brace, or -1 when the text is not one object
 * or `visit` gave up. Assumes text that JSON.parse accepted.
 */
function walkTopLevel(text: string, names: readonly string[], visit: (n: number, start: number, end: number) => boolean): number {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACE) return -1;
  i = skipSpace(text, i + 1);
  if (text.charCodeAt(i) === CLOSE_BRACE) return skipSpace(text, i + 1) === text.length ? i : -1;
  let members = 0;
  /** Every name so far, decoded: built once a body has more than FEW_NAMES members or an escaped name. */
  let seen: Set<string> | null = null;
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) return -1;
    const nameEnd = stringEnd(text, i);
    if (nameEnd === -1) return -1;
    // A member named twice is given up on: JSON.parse kept the last one, which the gateway
    // checked (the context cap, the reservation), but a parser that keeps the first would
    // read another request from the same bytes. The caller then sends the parsed object.
    // A few plain names (every real request) are compared where they are, allocating
    // nothing; past that, or with an escape, a set of the decoded names (comparing each
    // name with every other took 3.5 s over 20,000 members).
    if (seen === null && members < FEW_NAMES && !hasBackslash(text, i, nameEnd)) {
      if (repeatsName(text, i, nameEnd, members)) return -1;
      nameSpans[2 * members] = i;
      nameSpans[2 * members + 1] = nameEnd;
    } else {
      if (seen === null) {
        seen = new Set<string>();
        for (let k = 0; k < members; k++) seen.add(text.slice(nameSpans[2 * k]! + 1, nameSpans[2 * k + 1]!));
      }
      const name = hasBackslash(text, i, nameEnd) ? (JSON.parse(text.slice(i, nameEnd + 1)) as string) : text.slice(i + 1, nameEnd);
      if (seen.has(name)) return -1;
      seen.add(name);
    }
    members++;
    const n = nameIndex(text, i, nameEnd, names);
    i = skipSpace(text, nameEnd + 1);
    if (text.charCodeAt(i) !== COLON) return -1;
    const start = skipSpace(text, i + 1);
    const end = valueEnd(text, start);
    if (end === -1) return -1;
    if (n !== -1 && !visit(n, start, end)) return -1;
    i = skipSpace(text, end);
    const c = text.charCodeAt(i);
    if (c === COMMA) {
      i = skipSpace(text, i + 1);
      continue;
    }
    return c === CLOSE_BRACE && skipSpace(text, i + 1) === text.length ? i : -1;
  }
}

function hasBackslash(text: string, start: number, end: number): boolean {
  for (let k = start + 1; k < end; k++) if (text.charCodeAt(k) === BACKSLASH) return true;
  return false;
}

/** How many plain member names are compared in place before a set is built. */
const FEW_NAMES = 16;
/** Where the first FEW_NAMES member names of the object being walked are: [start, end] pairs, reused. */
const nameSpans: number[] = new Array<number>(2 * FEW_NAMES).fill(0);

/** Whether text[start, end] (a name without escapes) is the text of one of the first `count` names. */
function repeatsName(text: string, start: number, end: number, count: number): boolean {
  const length = end - start;
  for (let k = 0; k < count; k++) {
    const s = nameSpans[2 * k]!;
    if (nameSpans[2 * k + 1]! - s !== length) continue;
    let j = 1;
    while (j < length && text.charCodeAt(s + j) === text.charCodeAt(start + j)) j++;
    if (j === length) return true;
  }
  return false;
}

/**
 * `text` with the given top-level members set to the given values (replaced where they
 * are, appended where they are not); everything else byte for byte. Null when the text
 * is not one plain object, or names one of these members twice (what a duplicate means
 * differs between parsers): the caller then serialises the object. With `bytes`, `text`
 * is a byte string (protocol/byte-strings.ts) and the changes, text, are written as bytes.
 */
export function withTopLevelMembers(text: string, changes: Record<string, unknown>, bytes = false): string | null {
  const names = Object.keys(changes);
  if (names.length > 30) return null; // `seen` is a bit mask
  const values: string[] = [];
  for (const name of names) {
    const value = JSON.stringify(changes[name]);
    if (value === undefined) return null;
    values.push(bytes ? toByteString(value) : value);
  }
  // Members come in text order, so the replacements are made as the walk finds them.
  let out = '';
  let done = 0;
  let seen = 0;
  const close = walkTopLevel(text, names, (n, start, end) => {
    if (seen & (1 << n)) return false;
    seen |= 1 << n;
    out += text.slice(done, start) + values[n];
    done = end;
    return true;
  });
  if (close === -1) return null;
  let appended = '';
  let k = close - 1;
  while (isSpace(text.charCodeAt(k))) k--;
  let comma = text.charCodeAt(k) !== OPEN_BRACE;
  for (let n = 0; n < names.length; n++) {
    if (seen & (1 << n)) continue;
    appended += `${comma ? ',' : ''}${bytes ? toByteString(JSON.stringify(names[n])) : JSON.stringify(names[n])}:${values[n]}`;
    comma = true;
  }
  if (!appended) return out + text.slice(done);
  return out + text.slice(done, close) + appended + text.slice(close);
}
