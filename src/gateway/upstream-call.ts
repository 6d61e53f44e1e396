import type { CallController, ClientPool, RequestOptions, ResponseHandler } from '../http1/client-pool.ts';
import type { ResponseHeaders } from '../http1/response-parser.ts';
import { codingOf, ContentDecoder, type DecodedSink } from '../http1/content-decoder.ts';

// One request to an upstream through the connection pool, with no Node stream in
// between: the response's chunks go straight to whoever consumes the body, collected
// as text, passed to a callback, or discarded.

export interface UpstreamResponse {
  statusCode: number;
  headers: ResponseHeaders;
  body: UpstreamBody;
}

export interface UpstreamCall {
  /** Settles when the response headers arrive, or with the transport error. */
  response: Promise<UpstreamResponse>;
  /** Aborts the request (before or after the headers); the body then fails with `reason`. */
  abort(reason: Error): void;
}

export function dispatchUpstream(pool: ClientPool, options: RequestOptions): UpstreamCall {
  const handler = new CallHandler();
  pool.dispatch(options, handler);
  return handler;
}

type Mode = 'buffer' | 'text' | 'pipe' | 'discard';

/**
 * The most of a body kept in memory to be read whole. An upstream that never ends its
 * answer (a misbehaving proxy, a runaway model server) would otherwise grow the gateway's
 * heap until it dies with every request in it; the largest real answers (an embeddings
 * batch of 2,048 × 3,072 floats as JSON) stay well under it.
 */
export const MAX_BUFFERED_BODY_BYTES = 256 * 1024 * 1024;

/** Whether `chunk` holds a byte that is not JSON whitespace (space, tab, CR, LF). */
function hasContent(chunk: Buffer): boolean {
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i]!;
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return true;
  }
  return false;
}

/** A response body, consumed once: text(), pipe() or dump(). */
export class UpstreamBody {
  #controller: CallController;
  #mode: Mode = 'buffer';
  #encoding: 'utf8' | 'latin1' = 'utf8';
  #chunks: Buffer[] = [];
  #ended = false;
  #error: Error | null = null;
  #onChunk: ((chunk: Buffer) => void) | null = null;
  #onContent: (() => void) | null = null;
  #resolve: ((text: string) => void) | null = null;
  #reject: ((err: Error) => void) | null = null;
  #discardLimit = 0;
  #discarded = 0;
  #discardTimer: NodeJS.Timeout | null = null;
  #buffered = 0;
  #limit = MAX_BUFFERED_BODY_BYTES;

  constructor(controller: CallController) {
    this.#controller = controller;
  }

  /** True once the whole body has arrived (or failed). */
  get finished(): boolean {
    return this.#ended || this.#error !== null;
  }

  /**
   * The whole body as UTF-8 text, or as a byte string (protocol/byte-strings.ts) with
   * 'latin1'. A body over `limitBytes` fails with code UPSTREAM_TOO_LARGE and the
   * connection is closed.
   */
  text(encoding: 'utf8' | 'latin1' = 'utf8', limitBytes = MAX_BUFFERED_BODY_BYTES): Promise<string> {
    this.#encoding = encoding;
    this.#limit = limitBytes;
    if (!this.finished && this.#buffered > limitBytes) this.#tooLarge();
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(this.#joined());
    this.#mode = 'text';
    return new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /**
   * Calls `onContent` once, when a byte other than whitespace has arrived (at once if one
   * has): where an answer begins, after any blank keep-alive a proxy sends before it.
   */
  whenContent(onContent: () => void): void {
    if (this.#chunks.some(hasContent)) onContent();
    else if (!this.finished) this.#onContent = onContent;
  }

  /** Hands every chunk to `onChunk` as it arrives (buffered ones first); settles at the end. */
  pipe(onChunk: (chunk: Buffer) => void): Promise<void> {
    const buffered = this.#chunks;
    this.#chunks = [];
    for (const c of buffered) onChunk(c);
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve();
    this.#mode = 'pipe';
    this.#onChunk = onChunk;
    return new Promise((resolve, reject) => {
      this.#resolve = () => resolve();
      this.#reject = reject;
    });
  }

  /**
   * Discards the rest of the body so the connection can be reused, unless more than
   * `limitBytes` arrive or it takes longer than `graceMs`: then the request is aborted.
   */
  dump(limitBytes = 64 * 1024, graceMs = 1_000): void {
    this.#chunks = [];
    this.#onChunk = null;
    this.#resolve = null;
    this.#reject = null;
    if (this.finished) return;
    this.#mode = 'discard';
    this.#discardLimit = limitBytes;
    this.#controller.resume();
    this.#discardTimer = setTimeout(() => this.destroy(), graceMs);
    // An upstream that lingers after its answer must not hold up a shutdown.
    this.#discardTimer.unref();
  }

  /** Stops the body for good; the connection is closed. */
  destroy(reason: Error = Object.assign(new Error('upstream body discarded'), { code: 'UPSTREAM_ABORTED' })): void {
    this.#onChunk = null;
    if (!this.finished) this.#controller.abort(reason);
  }

  pause(): void {
    this.#controller.pause();
  }

  resume(): void {
    this.#controller.resume();
  }

  push(chunk: Buffer): void {
    switch (this.#mode) {
      case 'pipe':
        this.#onChunk?.(chunk);
        return;
      case 'discard':
        this.#discarded += chunk.length;
        if (this.#discarded > this.#discardLimit) this.destroy();
        return;
      default:
        this.#chunks.push(chunk);
        if (this.#onContent && hasContent(chunk)) {
          const onContent = this.#onContent;
          this.#onContent = null;
          onContent();
        }
        this.#buffered += chunk.length;
        if (this.#buffered > this.#limit) this.#tooLarge();
    }
  }

  #tooLarge(): void {
    const err = Object.assign(new Error(`the upstream's answer is larger than ${this.#limit} bytes`), { code: 'UPSTREAM_TOO_LARGE' });
    this.fail(err);
    this.#controller.abort(err);
  }

  end(): void {
    this.#ended = true;
    this.#onContent = null;
    if (this.#discardTimer) clearTimeout(this.#discardTimer);
    const resolve = this.#resolve;
    this.#resolve = this.#reject = null;
    this.#onChunk = null;
    if (resolve) resolve(this.#mode === 'text' ? this.#joined() : '');
  }

  fail(err: Error): void {
    if (this.finished) return;
    this.#error = err;
    this.#onContent = null;
    if (this.#discardTimer) clearTimeout(this.#discardTimer);
    const reject = this.#reject;
    this.#resolve = this.#reject = null;
    this.#onChunk = null;
    this.#chunks = [];
    reject?.(err);
  }

  #joined(): string {
    const chunks = this.#chunks;
    this.#chunks = [];
    if (chunks.length === 1) return chunks[0]!.toString(this.#encoding);
    return Buffer.concat(chunks).toString(this.#encoding);
  }
}

class CallHandler implements ResponseHandler, UpstreamCall {
  response: Promise<UpstreamResponse>;
  #resolve!: (r: UpstreamResponse) => void;
  #reject!: (err: Error) => void;
  #controller: CallController | null = null;
  #body: UpstreamBody | null = null;
  #abortReason: Error | null = null;
  /** Set when the upstream compressed its answer (content-decoder.ts). */
  #decoder: ContentDecoder | null = null;

  constructor() {
    this.response = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  abort(reason: Error): void {
    if (this.#abortReason) return;
    this.#abortReason = reason;
    // Before onRequestStart there is no controller yet; it aborts there.
    this.#controller?.abort(reason);
  }

  onRequestStart(controller: CallController): void {
    this.#controller = controller;
    if (this.#abortReason) controller.abort(this.#abortReason);
  }

  onResponseStart(controller: CallController, statusCode: number, headers: ResponseHeaders): void {
    const coding = codingOf(headers.get('content-encoding'));
    if (coding === null) {
      this.#body = new UpstreamBody(controller);
    } else if (coding instanceof Error) {
      // Not an answer the gateway can read: a transport failure, so the next route is
      // tried. An error status still counts as itself (a 401, a 429 and its Retry-After),
      // its body failed: the status alone then says what happened.
      if (statusCode < 300) return controller.abort(coding);
      this.#body = new UpstreamBody(controller);
      this.#resolve({ statusCode, headers, body: this.#body });
      controller.abort(coding);
      return;
    } else {
      const decoding = new DecodingController(controller);
      const body = new UpstreamBody(decoding);
      const decoder = new ContentDecoder(coding, new BodySink(body, controller));
      decoding.decoder = decoder;
      decoding.body = body;
      this.#decoder = decoder;
      this.#body = body;
    }
    this.#resolve({ statusCode, headers, body: this.#body });
  }

  onResponseData(_controller: CallController, chunk: Buffer): void {
    if (this.#decoder) this.#decoder.write(chunk);
    else this.#body?.push(chunk);
  }

  onResponseEnd(): void {
    if (this.#decoder) this.#decoder.end();
    else this.#body?.end();
  }

  onResponseError(_controller: CallController, err: Error): void {
    this.#decoder?.destroy();
    if (this.#body) this.#body.fail(err);
    else this.#reject(err);
  }
}

/** The call's controller, as a compressed body's consumer sees it: pausing it pauses the decoder too. */
class DecodingController implements CallController {
  readonly #inner: CallController;
  decoder: ContentDecoder | null = null;
  body: UpstreamBody | null = null;

  constructor(inner: CallController) {
    this.#inner = inner;
  }

  pause(): void {
    this.#inner.pause();
    this.decoder?.pause();
  }

  resume(): void {
    this.decoder?.resume();
    this.#inner.resume();
  }

  abort(reason: Error): void {
    this.decoder?.destroy();
    this.#inner.abort(reason);
    // The raw body may have ended already, its last bytes still being decoded: then the
    // call is over and the abort above reaches nobody.
    this.body?.fail(reason);
  }
}

class BodySink implements DecodedSink {
  readonly #body: UpstreamBody;
  readonly #controller: CallController;

  constructor(body: UpstreamBody, controller: CallController) {
    this.#body = body;
    this.#controller = controller;
  }

  onDecoded(chunk: Buffer): void {
    this.#body.push(chunk);
  }

  onDecodedEnd(): void {
    this.#body.end();
  }

  onDecodeError(err: Error): void {
    this.#body.fail(err);
    // The rest of the answer is of no use, and the connection's framing was fine but the
    // call is over: closed rather than drained.
    this.#controller.abort(err);
  }
}
