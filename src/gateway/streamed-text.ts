import { fromByteString } from '../protocol/byte-strings.ts';
import { countTextTokens } from '../limits/token-count.ts';
import { messageText } from './answer-text.ts';

// The frames a stream has sent, kept to bill a stream the upstream reported no usage
// for (cut before it did, or ended without it): the text of their deltas, counted with
// the tokenizer. A chunk frame is
// ~200 bytes for about one token, so kept whole a 32K-token answer held ~6 MB per
// stream until it ended. Past FOLD_BYTES the kept frames are reduced to the text their
// deltas carry (about a fortieth of their size) and dropped. A short stream costs
// nothing more than before; a long one pays a JSON.parse per frame past the first
// FOLD_BYTES; the tokenizer still runs only for a stream with no usage report.

const FOLD_BYTES = 320 * 1024;
/**
 * The newest frames a fold leaves whole, so that unsend() can take back what a cut
 * client never got: at most the response's buffer (64 KiB high-water mark) and the one
 * write that passed it (one upstream read, at most 64 KiB), with room to spare.
 */
const TAIL_BYTES = 192 * 1024;

/** The text OpenAI chunk frames' deltas carry (content, reasoning, tool calls). */
function deltaText(frames: string): string {
  let text = '';
  for (const frame of frames.split('\n\n')) {
    // A frame may hold several data lines (stream-relay.ts keeps an upstream's
    // multi-line event as it was); its data is those lines joined.
    let data = '';
    for (const line of frame.split('\n')) if (line.startsWith('data: ')) data = data ? `${data}\n${line.slice(6)}` : line.slice(6);
    if (!data) continue;
    try {
      const choices = JSON.parse(data).choices;
      for (const c of Array.isArray(choices) ? choices : []) text += messageText(c?.delta);
    } catch {
      /* a chunk we cannot read adds nothing */
    }
  }
  return text;
}

const FINISHED = /"finish_reason"\s*:\s*"/;

export class StreamedText {
  /** Frames are byte strings (protocol/byte-strings.ts), not text. */
  asBytes = false;
  #frames: string[] = [];
  #kept = 0;
  /** The delta text of frames already folded. */
  #text = '';
  #any = false;

  /** Whole `data:` frames, as written to the client. */
  push(frames: string): void {
    this.#frames.push(frames);
    this.#any = true;
    this.#kept += frames.length;
    if (this.#kept > FOLD_BYTES) this.#fold(TAIL_BYTES);
  }

  /**
   * Takes back the last `chars` characters pushed, to the frame: written, but still in
   * the response's buffer when its client was cut, so never sent. Frames already folded
   * stay counted; a fold leaves the newest TAIL_BYTES whole for this.
   */
  unsend(chars: number): void {
    while (chars > 0 && this.#frames.length > 0) {
      const last = this.#frames.pop()!;
      this.#kept -= last.length;
      if (last.length <= chars) {
        chars -= last.length;
        continue;
      }
      const end = last.lastIndexOf('\n\n', last.length - chars - 2);
      if (end !== -1) {
        this.#frames.push(last.slice(0, end + 2));
        this.#kept += end + 2;
      }
      return;
    }
  }

  /** Whether the last frame sent ends its choice (a finish_reason that is not null). */
  get finished(): boolean {
    const last = this.#frames.at(-1);
    return last !== undefined && FINISHED.test(last.slice(last.lastIndexOf('data:')));
  }

  /** Nothing was sent. */
  get empty(): boolean {
    return !this.#any;
  }

  /** Characters held now, frames and folded text (a fortieth or so of what was sent). */
  get keptChars(): number {
    return this.#kept + this.#text.length;
  }

  /** Output tokens of everything sent. */
  completionTokens(): number {
    this.#fold();
    return countTextTokens(this.#text);
  }

  /** Reduces the kept frames to their text, all but the newest `tailBytes` of them. */
  #fold(tailBytes = 0): void {
    let keep = this.#frames.length;
    for (let tail = 0; keep > 0 && tail + this.#frames[keep - 1]!.length <= tailBytes; keep--) tail += this.#frames[keep - 1]!.length;
    for (let i = 0; i < keep; i++) {
      const sent = this.#frames[i]!;
      this.#text += deltaText(this.asBytes ? fromByteString(sent) : sent);
      this.#kept -= sent.length;
    }
    this.#frames = this.#frames.slice(keep);
  }
}
