import { countTokens as countRaw, isWithinTokenLimit as withinRaw } from 'gpt-tokenizer';

// Token counts with a real tokenizer (o200k_base, GPT-4o's). Other providers' tokenizers
// differ by a few percent; the counts gate context caps and size reservations, and the
// upstream's reported usage is what gets billed.
//
// Text that looks like a special token ("<|endoftext|>") is counted as the plain text it
// is: by default the tokenizer throws on it (a 500 for any prompt quoting one), and it
// also scans the whole string for special tokens before it starts, which would defeat
// stopping early on a huge input.

const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

// The tokenizer's BPE takes time quadratic in the length of a pre-tokenizer piece, and a
// run of letters (or of punctuation) with no whitespace is a single piece: 100 KB of
// random letters took ~2 s, and a 300 KB one-word prompt held the event loop for 18 s
// before its 413. So runs of more than MAX_RUN characters without whitespace are counted
// MAX_RUN characters at a time. A cut can only change the merges at that point: measured
// on 200 KB, counts rose by 0.1% (base64, hex) to 0.15% (Chinese without spaces), and
// text whose runs are shorter is counted exactly as before, in one call. A run of
// whitespace is one piece too, and worse: 100 KB of spaces took 7.7 s, of U+3000 48 s,
// and 130 KB of newlines in a prompt held the event loop 25 s. Such runs are cut the same way.
const MAX_RUN = 512;

/** JavaScript's `\s`, by code unit. */
function isSpace(c: number): boolean {
  return c <= 32 ? c === 32 || (c >= 9 && c <= 13) : c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/**
 * `text` cut after every MAX_RUN characters of a run of whitespace or of a run without
 * it. A plain scan: the regex `\S{512}` would retry from every character of a
 * 511-character run, and took 0.8 s over 1 MB of such runs.
 */
function* parts(text: string): Generator<string> {
  if (text.length <= MAX_RUN) {
    yield text;
    return;
  }
  let from = 0;
  let run = 0;
  let inSpace = false;
  for (let i = 0; i < text.length; i++) {
    const space = isSpace(text.charCodeAt(i));
    if (space !== inSpace) {
      inSpace = space;
      run = 1;
    } else if (++run === MAX_RUN) {
      yield text.slice(from, i + 1);
      from = i + 1;
      run = 0;
    }
  }
  yield text.slice(from);
}

function countTokens(text: string): number {
  let n = 0;
  for (const part of parts(text)) n += countRaw(part, PLAIN_TEXT);
  return n;
}

function isWithinTokenLimit(text: string, limit: number): number | false {
  let n = 0;
  for (const part of parts(text)) {
    const within = withinRaw(part, limit - n, PLAIN_TEXT);
    if (within === false) return false;
    n += within;
  }
  return n;
}

/** Per-message framing overhead in OpenAI's chat format, and the reply priming. */
const PER_MESSAGE = 4;
const REPLY_PRIMING = 3;
/** A fixed cost per image part: a high-detail 1024×1024 image on GPT-4o-class models. */
export const IMAGE_TOKENS = 765;

/** Media types whose data is text, counted as the text it is, wherever it is attached. */
const TEXT_MEDIA = /^(text\/[\w.+-]+|application\/(json|xml|yaml|x-yaml|x-ndjson|javascript|x-javascript|sql|x-sh|x-python))$/i;
/** URL endings that say a part sent as an image is not one (Gemini reads such a URL as a
 *  document, a video or audio, at whatever it costs). */
const NOT_AN_IMAGE = /\.(pdf|txt|md|csv|tsv|json|xml|html?|rtf|docx?|mp4|mov|webm|mkv|avi|mpe?g|mp3|wav|flac|ogg|aac|m4a|opus)$/i;

/** The media type of a data URI, and whether its data is base64; null if it is not one. */
function dataUri(url: string): { type: string; base64: boolean; start: number } | null {
  if (!url.startsWith('data:')) return null;
  const comma = url.indexOf(',', 5);
  if (comma === -1 || comma > 300) return null;
  const params = url.slice(5, comma).split(';');
  return { type: params[0]!.trim(), base64: params.slice(1).some((p) => p.trim().toLowerCase() === 'base64'), start: comma + 1 };
}

/** The text a data URI of a text media type carries; null for any other data. */
function dataUriText(url: string): string | null {
  const d = dataUri(url);
  if (!d || !TEXT_MEDIA.test(d.type)) return null;
  const data = url.slice(d.start);
  if (d.base64) return Buffer.from(data, 'base64').toString('utf8');
  try {
    return decodeURIComponent(data);
  } catch {
    return data;
  }
}

type Media = 'text' | 'image' | 'unmeasured';

/** What an attachment's URL (or file data) holds, as far as the request can tell. */
function mediaKind(url: unknown, sentAsImage: boolean): Media {
  if (typeof url !== 'string') return sentAsImage ? 'image' : 'unmeasured';
  const d = dataUri(url);
  if (d) return TEXT_MEDIA.test(d.type) ? 'text' : sentAsImage && d.type.toLowerCase().startsWith('image/') ? 'image' : 'unmeasured';
  if (!sentAsImage) return 'unmeasured';
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    /* not a URL: judged as it is */
  }
  return NOT_AN_IMAGE.test(path) ? 'unmeasured' : 'image';
}

function imageUrlOf(part: any): unknown {
  return typeof part.image_url === 'string' ? part.image_url : part.image_url?.url;
}

/**
 * Parts whose token cost only the upstream can tell: a PDF's pages, audio's seconds, a
 * video, a document sent as an image. They are measured below as at most 4 KiB of their
 * JSON, enough for a context-cap estimate and nothing like a bound, so a request holding
 * one reserves its model's whole context window (gateway/admission.ts). Text attached as
 * a file or a data URI is decoded and counted as text instead.
 */
function isUnmeasuredPart(part: any): boolean {
  if (!part || typeof part !== 'object') return false;
  if (part.type === 'input_audio') return true;
  if (part.type === 'file') return mediaKind(part.file?.file_data, false) === 'unmeasured';
  if (part.type === 'image_url') return mediaKind(imageUrlOf(part), true) === 'unmeasured';
  return false;
}

function partText(part: any): { text: string; images: number } {
  if (typeof part === 'string') return { text: part, images: 0 };
  if (!part || typeof part !== 'object') return { text: '', images: 0 };
  if (part.type === 'image_url' || part.type === 'file') {
    const url = part.type === 'file' ? part.file?.file_data : imageUrlOf(part);
    const kind = mediaKind(url, part.type === 'image_url');
    if (kind === 'text') return { text: dataUriText(url as string) ?? '', images: 0 };
    if (kind === 'image') return { text: '', images: 1 };
    return { text: JSON.stringify(part).slice(0, 4096), images: 0 };
  }
  if (part.type === 'image' || part.type === 'input_image') return { text: '', images: 1 };
  if (typeof part.text === 'string') return { text: part.text, images: 0 };
  if (isUnmeasuredPart(part)) return { text: JSON.stringify(part).slice(0, 4096), images: 0 };
  return { text: JSON.stringify(part), images: 0 };
}

/** Whether a chat request carries a part whose cost only the upstream can tell (see isUnmeasuredPart). */
export function hasUnmeasuredParts(body: Record<string, any>): boolean {
  if (!Array.isArray(body.messages)) return false;
  for (const m of body.messages) if (m && Array.isArray(m.content) && m.content.some(isUnmeasuredPart)) return true;
  return false;
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
    // An assistant turn's reasoning goes back to DeepSeek in later requests (its thinking
    // mode asks for it after tool calls) and is context like any other text; so are a
    // refusal sent back and a predicted output. Uncounted, any of them carried a prompt
    // of any size past the cap.
    // (An upstream that sends both reasoning fields sends the same text in each: one counts.)
    const reasoning = typeof m.reasoning_content === 'string' ? m.reasoning_content : m.reasoning;
    if (typeof reasoning === 'string') yield { text: reasoning, images: 0 };
    if (typeof m.refusal === 'string') yield { text: m.refusal, images: 0 };
    if (Array.isArray(m.tool_calls)) yield { text: JSON.stringify(m.tool_calls), images: 0 };
    if (typeof m.tool_call_id === 'string') yield { text: m.tool_call_id, images: 0 };
    // The legacy function calling, still accepted by OpenAI and passed through: uncounted,
    // a prompt of any size got past the context cap in its arguments or definitions.
    if (m.function_call != null) yield { text: JSON.stringify(m.function_call), images: 0 };
  }
  const predicted = body.prediction?.content;
  if (typeof predicted === 'string') yield { text: predicted, images: 0 };
  else if (Array.isArray(predicted)) for (const p of predicted) yield partText(p);
  if (Array.isArray(body.tools) && body.tools.length) yield { text: JSON.stringify(body.tools), images: 0 };
  if (Array.isArray(body.functions) && body.functions.length) yield { text: JSON.stringify(body.functions), images: 0 };
  if (body.response_format?.json_schema) yield { text: JSON.stringify(body.response_format.json_schema), images: 0 };
}

/** A chat request's input as plain data: the tokens it costs besides its text (framing,
 *  images), and its text pieces in order. Strings only, so a worker thread can take it. */
export interface ChatTexts {
  fixed: number;
  texts: string[];
}

export function chatTexts(body: Record<string, any>): ChatTexts {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  let fixed = REPLY_PRIMING + PER_MESSAGE * messages;
  const texts: string[] = [];
  for (const piece of chatPieces(body)) {
    fixed += piece.images * IMAGE_TOKENS;
    if (piece.text) texts.push(piece.text);
  }
  return { fixed, texts };
}

/** countChatInputTokens over chatTexts(). */
function countTexts({ fixed, texts }: ChatTexts, stopAbove: number): number {
  let total = fixed;
  for (const text of texts) {
    if (stopAbove === Infinity) {
      total += countTokens(text);
      continue;
    }
    const room = stopAbove - total;
    if (room < 0) return total;
    const n = isWithinTokenLimit(text, room);
    if (n === false) return stopAbove + 1;
    total += n;
  }
  return total;
}

/**
 * Counts a chat request's input tokens. With `stopAbove`, stops as soon as the count
 * passes it and returns a number above it (not the full count): a 1M-token request is
 * rejected against a 128K cap after tokenizing only ~128K tokens' worth of text.
 */
export function countChatInputTokens(body: Record<string, any>, stopAbove = Infinity): number {
  return countTexts(chatTexts(body), stopAbove);
}

/**
 * An upper bound of countChatInputTokens without tokenizing: every token covers at least
 * one UTF-8 byte, so a piece of text has at most as many tokens as bytes (English runs
 * about 4 bytes a token). Cheap (one pass, no tokenizer), exact as a bound. With
 * `stopAbove`, returns as soon as the bound is known to pass it (a number above it).
 */
export function chatInputTokenBound(body: Record<string, any>, stopAbove = Infinity): number {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  let total = REPLY_PRIMING + PER_MESSAGE * messages;
  for (const piece of chatPieces(body)) {
    total += piece.images * IMAGE_TOKENS;
    if (!piece.text) continue;
    // UTF-8 bytes ≥ UTF-16 units: past the stop without measuring the bytes.
    total += total + piece.text.length > stopAbove ? piece.text.length : Buffer.byteLength(piece.text, 'utf8');
    if (total > stopAbove) return total;
  }
  return total;
}

/**
 * A lower bound of a text's token count without tokenizing: the number of places where
 * ASCII whitespace is followed by a printable ASCII character other than '/'. Proof
 * sketch, from o200k_base's pre-tokenizer (gpt-tokenizer's O200K_TOKEN_SPLIT_PATTERN):
 * its pieces cover the text; a piece holds whitespace before a non-whitespace character
 * only as its optional first character (the `[\r\n/]*` tail can put '/' after a
 * newline, hence the exclusion); so each such place starts a distinct piece at offset 0
 * or 1, and every piece is at least one token. English runs ~0.75 of the real count:
 * a 1M-token prompt is proven over a 128K cap after scanning ~1/8 of it, in about a
 * millisecond, instead of tokenizing 128K tokens (~50 ms).
 */
export function textTokenFloor(text: string, stopAbove = Infinity): number {
  let n = 0;
  let prevSpace = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || (c >= 9 && c <= 13)) prevSpace = true;
    else {
      if (prevSpace && c > 32 && c < 127 && c !== 47 && ++n > stopAbove) return n;
      prevSpace = false;
    }
  }
  return n;
}

/** A lower bound of countChatInputTokens (see textTokenFloor); stops once past `stopAbove`. */
export function chatInputTokenFloor(body: Record<string, any>, stopAbove = Infinity): number {
  const messages = Array.isArray(body.messages) ? body.messages.length : 0;
  let total = REPLY_PRIMING + PER_MESSAGE * messages;
  for (const piece of chatPieces(body)) {
    total += piece.images * IMAGE_TOKENS;
    if (piece.text) total += textTokenFloor(piece.text, stopAbove - total);
    if (total > stopAbove) return total;
  }
  return total;
}

/**
 * An estimate of the full count of an input too large to count (for messages only):
 * the token-per-character rate of its first 32K characters, applied to all of it.
 */
export function estimateChatInputTokens(body: Record<string, any>): number {
  return estimateTexts(chatTexts(body));
}

function estimateTexts({ fixed, texts }: ChatTexts): number {
  const SAMPLE = 32_768;
  let chars = 0;
  let sample = '';
  for (const text of texts) {
    chars += text.length;
    if (sample.length < SAMPLE) sample += text.slice(0, SAMPLE - sample.length);
  }
  return sample ? Math.round(fixed + (countTokens(sample) / sample.length) * chars) : fixed;
}

export interface InputMeasure {
  /** The token count when counted; the byte bound when counting was skipped. */
  tokens: number;
  /** Whether `tokens` was counted with the tokenizer (else it is an upper bound). */
  counted: boolean;
  /** The input is over the cap (then `tokens` is the count so far: more than the cap). */
  over: boolean;
}

/**
 * Measures a chat request's input against a cap, tokenizing as little as possible: not
 * at all when the byte bound is within the cap (it is then the reservation's input
 * count), nor when the whitespace floor is already over it; otherwise only up to the
 * cap. Each request is measured once; the result feeds the reservation too.
 */
export function measureChatInput(body: Record<string, any>, cap: number): InputMeasure {
  return quickChatMeasure(body, cap) ?? countedMeasure(chatTexts(body), cap);
}

/** measureChatInput's answer when no tokenizing is needed for it; null when it is. */
function quickChatMeasure(body: Record<string, any>, cap: number): InputMeasure | null {
  const bound = chatInputTokenBound(body, cap);
  if (bound <= cap) return { tokens: bound, counted: false, over: false };
  const floor = chatInputTokenFloor(body, cap);
  if (floor > cap) return { tokens: floor, counted: false, over: true };
  return null;
}

function countedMeasure(texts: ChatTexts, cap: number): InputMeasure {
  const tokens = countTexts(texts, cap);
  return { tokens, counted: true, over: tokens > cap };
}

/**
 * Embeddings: each input is measured against the cap on its own (a model's context
 * window applies per input). Token-id arrays count their length.
 */
export function measureEmbeddingInput(body: Record<string, any>, capPerInput: number): InputMeasure & { index: number } {
  const input = body.input;
  const inputs: unknown[] = Array.isArray(input) && (input.length === 0 || typeof input[0] !== 'number') ? input : [input];
  let total = 0;
  let counted = false;
  // An input within the cap by its bytes is not tokenized: its bytes bound its count. The
  // total is a count only if no input was bounded (with one long input tokenized beside
  // fifty short ones, it was taken for a count and billed at twice the real one).
  let bounded = false;
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i];
    let n: number;
    if (typeof x === 'string') {
      n = x.length > capPerInput ? x.length : Buffer.byteLength(x, 'utf8');
      if (n <= capPerInput) bounded = true;
      else {
        if (textTokenFloor(x, capPerInput) > capPerInput) return { tokens: capPerInput + 1, counted, over: true, index: i };
        counted = true;
        const within = isWithinTokenLimit(x, capPerInput);
        if (within === false) return { tokens: capPerInput + 1, counted, over: true, index: i };
        n = within;
      }
    } else if (Array.isArray(x)) n = x.length;
    else n = typeof x === 'number' ? 1 : 0;
    if (n > capPerInput) return { tokens: n, counted: true, over: true, index: i };
    total += n;
  }
  return { tokens: total, counted: counted && !bounded, over: false, index: -1 };
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

/**
 * A measure whose tokenizing is worth a thread of its own (limits/token-count-threads.ts),
 * as plain data: strings and numbers only, no body. `cap` is the cap it was measured
 * against, so that a measure taken before a plan changed is not applied after.
 */
export type CountJob =
  | { kind: 'chat'; cap: number; texts: ChatTexts }
  | { kind: 'embeddings'; cap: number; input: unknown }
  /** countEmbeddingInputTokens: the full count of every input (cap is Infinity). */
  | { kind: 'embeddings-total'; cap: number; input: unknown };

/** A CountJob's answer: measureChatInput's or measureEmbeddingInput's, and for a chat
 *  input over its cap, estimateChatInputTokens's (for the refusal's message). */
export interface CountResult extends InputMeasure {
  cap: number;
  index: number;
  estimate?: number;
}

/**
 * Text below this many characters is tokenized where it is (~5 ms at most, at the
 * 0.3 µs a character that 150 KB of code took); above it, sending it to a thread costs
 * less than making every other request wait.
 */
export const COUNT_JOB_MIN_CHARS = 16_384;

/**
 * The job that measuring this request's input against `cap` needs, when it needs the
 * tokenizer over at least COUNT_JOB_MIN_CHARS; null when it can be measured at once.
 */
export function countJob(endpoint: 'chat' | 'embeddings', body: Record<string, any>, cap: number): CountJob | null {
  if (cap === Infinity) return null;
  if (endpoint === 'embeddings') {
    const input: unknown = body.input;
    const inputs: unknown[] = Array.isArray(input) ? input : [input];
    // What measureEmbeddingInput tokenizes: each string input whose bytes pass the cap.
    let chars = 0;
    for (const x of inputs) if (typeof x === 'string' && (x.length > cap || Buffer.byteLength(x, 'utf8') > cap)) chars += x.length;
    return chars >= COUNT_JOB_MIN_CHARS ? { kind: 'embeddings', cap, input } : null;
  }
  return quickChatMeasure(body, cap) ? null : chatJob(body, cap);
}

/** A chat job against `cap` when the request's text is long enough for a thread. */
function chatJob(body: Record<string, any>, cap: number): CountJob | null {
  const texts = chatTexts(body);
  let chars = 0;
  for (const t of texts.texts) chars += t.length;
  return chars >= COUNT_JOB_MIN_CHARS ? { kind: 'chat', cap, texts } : null;
}

/**
 * The job for the full count of a request's input (for the usage of an answer that came
 * without a report) when it is long enough for a thread; null when it is not.
 */
export function fullCountJob(endpoint: 'chat' | 'embeddings', body: Record<string, any>): CountJob | null {
  if (endpoint === 'embeddings') {
    const input: unknown = body.input;
    let chars = 0;
    for (const x of Array.isArray(input) ? input : [input]) if (typeof x === 'string') chars += x.length;
    return chars >= COUNT_JOB_MIN_CHARS ? { kind: 'embeddings-total', cap: Infinity, input } : null;
  }
  return chatJob(body, Infinity);
}

/** Runs a CountJob: the same functions, and so the same answer, as measuring in place. */
export function runCountJob(job: CountJob): CountResult {
  if (job.kind === 'embeddings') return { ...measureEmbeddingInput({ input: job.input }, job.cap), cap: job.cap };
  if (job.kind === 'embeddings-total') return { tokens: countEmbeddingInputTokens({ input: job.input }), counted: true, over: false, cap: job.cap, index: -1 };
  const m = countedMeasure(job.texts, job.cap);
  return m.over ? { ...m, cap: job.cap, index: -1, estimate: estimateTexts(job.texts) } : { ...m, cap: job.cap, index: -1 };
}
