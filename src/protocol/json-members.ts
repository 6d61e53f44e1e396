// Changes a few top-level members of a JSON object text and leaves every other byte as
// the client sent it.
//
// Why not JSON.stringify of the parsed body: a coding assistant's request is tens of KB
// of messages, and re-serialising 39 KB took ~63 µs per request (more than the rest of
// the gateway's work), only to change `model` and `stream_options`. Re-serialising also
// changes what the client sent: an integer above 2^53 (a `seed`, say) loses digits and
// `1.0` becomes `1`. Here the text is walked once at the top level; strings are skipped
// with indexOf, so the cost follows the number of quotes, not of characters: the same
// 39 KB (code, full of quotes) took 16–30 µs against 54–84 µs for JSON.stringify. A
// 100-byte body costs ~1 µs, ~0.6 µs more than JSON.stringify; consistency wins there.

/** Where the top-level members of interest sit. */
interface Members {
  /** [start, end) of each asked-for name's value, in the order asked; undefined where absent. */
  spans: Array<[number, number] | undefined>;
  /** How many members the object has. */
  count: number;
  /** Index of the object's closing brace. */
  close: number;
}

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

/** End (exclusive) of the JSON value starting at `i`, or -1. */
function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) {
    const e = stringEnd(text, i);
    return e === -1 ? -1 : e + 1;
  }
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
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
 * Where the values of the top-level members named in `names` are, or null when the text
 * is not one object or names one of them twice (what a duplicate means differs between
 * parsers, so the caller re-serialises instead). Assumes text that JSON.parse accepted.
 */
export function topLevelMembers(text: string, names: readonly string[]): Members | null {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACE) return null;
  const spans: Members['spans'] = new Array(names.length).fill(undefined);
  i = skipSpace(text, i + 1);
  if (text.charCodeAt(i) === CLOSE_BRACE) return skipSpace(text, i + 1) === text.length ? { spans, count: 0, close: i } : null;
  for (let count = 1; ; count++) {
    if (text.charCodeAt(i) !== QUOTE) return null;
    const nameEnd = stringEnd(text, i);
    if (nameEnd === -1) return null;
    const n = nameIndex(text, i, nameEnd, names);
    i = skipSpace(text, nameEnd + 1);
    if (text.charCodeAt(i) !== COLON) return null;
    const start = skipSpace(text, i + 1);
    const end = valueEnd(text, start);
    if (end === -1) return null;
    if (n !== -1) {
      if (spans[n]) return null;
      spans[n] = [start, end];
    }
    i = skipSpace(text, end);
    const c = text.charCodeAt(i);
    if (c === COMMA) {
      i = skipSpace(text, i + 1);
      continue;
    }
    if (c === CLOSE_BRACE && skipSpace(text, i + 1) === text.length) return { spans, count, close: i };
    return null;
  }
}

/**
 * `text` with the given top-level members set to the given values (replaced where they
 * are, appended where they are not); everything else byte for byte. Null when the text
 * is not a plain object (see topLevelMembers): the caller then serialises the object.
 */
export function withTopLevelMembers(text: string, changes: Record<string, unknown>): string | null {
  const names = Object.keys(changes);
  const members = topLevelMembers(text, names);
  if (!members) return null;
  const edits: Array<[number, number, string]> = [];
  let appended = '';
  for (let n = 0; n < names.length; n++) {
    const value = JSON.stringify(changes[names[n]!]);
    if (value === undefined) return null;
    const span = members.spans[n];
    if (span) edits.push([span[0], span[1], value]);
    else appended += `${appended || members.count > 0 ? ',' : ''}${JSON.stringify(names[n])}:${value}`;
  }
  edits.sort((a, b) => a[0] - b[0]);
  let out = '';
  let done = 0;
  for (const [start, end, value] of edits) {
    out += text.slice(done, start) + value;
    done = end;
  }
  if (!appended) return out + text.slice(done);
  return out + text.slice(done, members.close) + appended + text.slice(members.close);
}
