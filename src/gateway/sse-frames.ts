import { createParser, type EventSourceParser } from 'eventsource-parser';
import { indexOfQuoted } from '../protocol/json-text.ts';
import { usageObjectAt } from '../protocol/usage.ts';
import type { StreamItem, StreamTranslator } from '../providers/types.ts';

// Splits an upstream SSE body into items for the relay.
//
// Every wire goes through eventsource-parser and the wire's translator, event by event.
// For translators that pass OpenAI frames through (`passesOpenAIFrames`), the common
// case takes a shortcut: a read made only of one-line `data: {...}` frames, none of
// which has a usage object or names "error" or "msg", is
// exactly what the translator would forward unchanged, so it becomes one `frames` item
// without splitting it into events (per-frame string searches were most of a stream's
// CPU in the bench profile). Frames that do have them and `[DONE]` go to the translator
// as before; anything else (CRLF line ends, multi-line data, event or id fields) sends
// the rest of the stream through eventsource-parser.
//
// An upstream's comment (DeepSeek's `: keep-alive` while a request waits or thinks,
// OpenRouter's `: OPENROUTER PROCESSING`) becomes the gateway's own KEEP_ALIVE frame: a
// client or proxy with an idle timeout (nginx's 60 s) would otherwise cut a stream that
// is only slow to start. Its text is not passed on: it may name the upstream.

/** The comment frame relayed for each upstream comment. */
export const KEEP_ALIVE = ': keep-alive\n\n';

/**
 * The most an upstream may send of one event before ending it. An event is held until its
 * blank line arrives, so one that never ends (a broken or hostile upstream) grew the heap
 * until the process died. The largest real events are a few MB (an image inline in a
 * Gemini chunk); this leaves room for ten times that.
 */
export const MAX_EVENT_CHARS = 32 * 1024 * 1024;

function eventTooLarge(): Error {
  return Object.assign(new Error(`an event of the upstream's stream is larger than ${MAX_EVENT_CHARS} bytes`), { code: 'UPSTREAM_TOO_LARGE' });
}

export class SseFrames {
  readonly #translator: StreamTranslator;
  readonly #items: StreamItem[];
  readonly #parser: EventSourceParser;
  #fast: boolean;
  #pending = '';
  /** Whether `#pending` (when not empty) ends with a line feed: always the last read's last character. */
  #pendingEndsInLF = false;
  /** Characters fed to the parser since it last ended an event (at most one read too few). */
  #unended = 0;

  constructor(translator: StreamTranslator, items: StreamItem[]) {
    this.#translator = translator;
    this.#items = items;
    this.#parser = createParser({
      onEvent: (e) => {
        this.#unended = 0;
        translator.push({ event: e.event, data: e.data }, items);
      },
      onComment: () => {
        this.#unended = 0;
        items.push(keepAlive());
      },
    });
    this.#fast = translator.passesOpenAIFrames === true;
  }

  /** Throws (code UPSTREAM_TOO_LARGE) when an event grows past MAX_EVENT_CHARS. */
  feed(text: string): void {
    if (!this.#fast) {
      this.#feedParser(text);
      return;
    }
    if (text.length === 0) return;
    const pending = this.#pending;
    const buf = pending ? pending + text : text;
    this.#pending = '';
    // Only the new text is searched: the pending part was searched when it came, and
    // searching it again on every read made an event arriving in many reads cost the
    // square of its length.
    if (text.indexOf('\r') !== -1) return this.#general(buf);
    let end = text.lastIndexOf('\n\n');
    if (end !== -1) end += pending.length;
    // (A character read from `pending` would flatten it, as costly as a search.)
    else if (this.#pendingEndsInLF && pending && text.charCodeAt(0) === 10) end = pending.length - 1;
    this.#pendingEndsInLF = text.charCodeAt(text.length - 1) === 10;
    if (end === -1) {
      if (buf.length > MAX_EVENT_CHARS) throw eventTooLarge();
      this.#pending = buf;
      return;
    }
    this.#pending = buf.slice(end + 2);
    this.#frames(buf.slice(0, end + 2));
  }

  /** The end of the body: whatever is left goes through the full parser. */
  end(): void {
    if (this.#pending) this.#parser.feed(this.#pending);
    this.#pending = '';
  }

  #general(rest: string): void {
    this.#fast = false;
    this.#feedParser(rest);
  }

  #feedParser(text: string): void {
    this.#unended += text.length;
    this.#parser.feed(text);
    if (this.#unended > MAX_EVENT_CHARS) throw eventTooLarge();
  }

  /** `text` ends with a blank line. */
  #frames(text: string): void {
    const items = this.#items;
    // Where the next usage object and the next "error" are: only the frames holding one
    // go to the translator. Neither can span two frames (a frame is one line).
    const usageMentioned = indexOfQuoted(text, 'usage');
    let usageAt = usageMentioned === -1 ? Infinity : position(usageObjectAt(text, usageMentioned));
    let errorAt = position(indexOfQuoted(text, 'error'));
    // Also to the translator: a frame naming "msg" (an error in another shape, as
    // `{"code":401,"msg":...}`; a chunk has none). One search per read, moved on only past
    // a frame that holds one, as for "error".
    let msgAt = position(indexOfQuoted(text, 'msg'));
    // Each run says whether it mentions "usage" at all, so the relay searches for
    // `"usage":null` only in runs that can hold it. `mention` is the next mention at or
    // after the run being emitted; runs only move forward, so the text is scanned once.
    let mention = usageMentioned;
    const emit = (start: number, end: number): void => {
      if (mention !== -1 && mention < start) mention = indexOfQuoted(text, 'usage', start);
      items.push({ kind: 'frames', text: start === 0 && end === text.length ? text : text.slice(start, end), mentionsUsage: mention !== -1 && mention < end });
    };
    let run = 0; // start of the frames not yet emitted
    let i = 0;
    while (i < text.length) {
      const nl = text.indexOf('\n', i);
      if (text.charCodeAt(nl + 1) !== 10) {
        // A multi-line frame: from here on the full parser does the work.
        if (run < i) emit(run, i);
        return this.#general(text.slice(i) + this.#takePending());
      }
      const dataFrame = text.startsWith('data: ', i);
      if (!dataFrame && text.charCodeAt(i) !== 58 /* ':' comment */) {
        if (run < i) emit(run, i);
        return this.#general(text.slice(i) + this.#takePending());
      }
      const special = usageAt < nl || errorAt < nl || msgAt < nl;
      if (special) {
        if (usageAt < nl) usageAt = position(usageObjectAt(text, nl));
        if (errorAt < nl) errorAt = position(indexOfQuoted(text, 'error', nl));
        if (msgAt < nl) msgAt = position(indexOfQuoted(text, 'msg', nl));
      }
      if (!dataFrame || special || text.startsWith('data: [DONE]\n', i)) {
        if (run < i) emit(run, i);
        if (dataFrame) this.#translator.push({ data: text.slice(i + 6, nl) }, items);
        else items.push(keepAlive());
        run = nl + 2;
      }
      i = nl + 2;
    }
    if (run < text.length) emit(run, text.length);
  }

  #takePending(): string {
    const p = this.#pending;
    this.#pending = '';
    return p;
  }
}

function keepAlive(): StreamItem {
  return { kind: 'frames', text: KEEP_ALIVE, mentionsUsage: false };
}

function position(i: number): number {
  return i === -1 ? Infinity : i;
}
