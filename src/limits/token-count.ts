import { countTokens, isWithinTokenLimit } from 'gpt-tokenizer';

// Token counts with a real tokenizer (o200k_base, GPT-4o's). Other providers' tokenizers
// differ by a few percent; the counts gate context caps and size reservations, and the
// upstream's reported usage is what gets billed.

/** Per-message framing overhead in OpenAI's chat format, and the reply priming. */
const PER_MESSAGE = 4;
const REPLY_PRIMING = 3;
/** A fixed cost per image part: a high-detail 1024×1024 image on GPT-4o-class models. */
export const IMAGE_TOKENS = 765;

function partText(part: any): { text: string; images: number } {
  if (typeof part === 'string') return { text: part, images: 0 };
  if (!part || typeof part !== 'object') return { text: '', images: 0 };
  if (part.type === 'image_url' || part.type === 'image' || part.type === 'input_image') return { text: '', images: 1 };
  if (typeof part.text === 'string') return { text: part.text, images: 0 };
  if (part.type === 'input_audio' || part.type === 'file') return { text: JSON.stringify(part).slice(0, 4096), images: 0 };
  return { text: JSON.stringify(part), images: 0 };
}

/** The text pieces a chat request sends, and the number of images, in order. */
function* chatPieces(body: Record<string, any>): Generator<{ text: string; images: number }> {
  for (const m of Array.isArray(body.messages) ? body.messages : []) {
    if (!m || typeof m !== 'object') continue;
    yield { text: String(m.role ?? ''), images: 0 };
    if (typeof m.name === 'string') yield { text: m.name, images: 0 };
    const c = m.content;
    if (typeof c === 'string') yield { text: c, images: 0 };
    else if (Array.isArray(c)) for (const p of c) yield partText(p);
    if (Array.isArray(m.tool_calls)) yield { text: JSON.stringify(m.tool_calls), images: 0 };
  }
  if (Array.isArray(body.tools) && body.tools.length) yield { text: JSON.stringify(body.tools), images: 0 };
  if (body.response_format?.json_schema) yield { text: JSON.stringify(body.response_format.json_schema), images: 0 };
}

/**
 * Counts a chat request's input tokens. With `stopAbove`, stops as soon as the count
 * passes it and returns a number above it (not the full count): a 1M-token request is
 * rejected against a 128K cap after tokenizing only ~128K tokens' worth of text.
 */
export function countChatInputTokens(body: Record<string, any>, stopAbove = Infinity): number {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  let total = REPLY_PRIMING + PER_MESSAGE * messages;
  for (const piece of chatPieces(body)) {
    total += piece.images * IMAGE_TOKENS;
    if (!piece.text) continue;
    if (stopAbove === Infinity) {
      total += countTokens(piece.text);
      continue;
    }
    const room = stopAbove - total;
    if (room < 0) return total;
    const n = isWithinTokenLimit(piece.text, room);
    if (n === false) return stopAbove + 1;
    total += n;
  }
  return total;
}

export function countEmbeddingInputTokens(body: Record<string, any>): number {
  const input = body.input;
  if (typeof input === 'string') return countTokens(input);
  if (!Array.isArray(input)) return 0;
  let total = 0;
  for (const x of input) {
    if (typeof x === 'string') total += countTokens(x);
    else if (Array.isArray(x)) total += x.length; // already token ids
    else if (typeof x === 'number') total += 1;
  }
  return total;
}

/** Output tokens of text already generated (a stream cut before the upstream reported usage). */
export function countTextTokens(text: string): number {
  return text ? countTokens(text) : 0;
}
