import zlib from 'node:zlib';

// Decoding of a response body an upstream compressed although it was asked not to.
// The gateway sends `accept-encoding: identity` (client-pool.ts), but some CDN-fronted
// OpenAI-compatible hosts gzip or brotli their answers anyway; read as they came, such
// an answer was a clean but misleading 502 ("the body is not JSON"). The decoded bytes
// go to the body's consumer chunk by chunk, so every limit that consumer applies (the
// 256 MiB of a body read whole, the 1 MiB of an error body, the drain limit) counts
// decoded bytes, and a small bomb that inflates to gigabytes is cut at the limit. A
// paused consumer pauses the decoder too: no decoded bytes pile up behind a slow client.

export class ContentDecodingError extends Error {
  readonly code = 'UPSTREAM_BAD_ENCODING';
}

type Coding = 'gzip' | 'deflate' | 'br';

/**
 * The most a body may inflate, once past its first 16 MiB: a compression bomb inflates a
 * thousandfold (zeros: 1,030-fold for gzip, millions-fold for brotli); JSON and SSE
 * 3- to 20-fold (a stream flushed per event, as streaming servers do, near 20), unless
 * they repeat one pattern over and over (140-fold for gzip). Measured against the
 * compressed bytes decoded so far, as the output goes, so a consumer that keeps what it
 * is given (an event not yet ended, with no limit of its own) never gets a bomb's
 * gigabytes.
 */
const MAX_RATIO = 200;
const RATIO_FREE_BYTES = 16 * 1024 * 1024;

const KNOWN_CODINGS = new Set(['zstd', 'compress', 'x-compress', 'dcb', 'dcz', 'exi', 'pack200-gzip', 'aes128gcm']);

/**
 * The coding of a `content-encoding` value: null for none (absent, empty or `identity`),
 * a ContentDecodingError for one the gateway does not decode (zstd, compress, stacked
 * codings).
 */
export function codingOf(header: string | undefined): Coding | null | ContentDecodingError {
  if (header === undefined) return null;
  const value = header.trim().toLowerCase();
  if (value === '' || value === 'identity') return null;
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  if (value === 'deflate') return 'deflate';
  if (value === 'br') return 'br';
  // Named only when it is a registered coding: the header is the upstream's to fill, and
  // what it echoes there (a key) must not reach a client in this message.
  const named = KNOWN_CODINGS.has(value) ? JSON.stringify(value) : 'an unregistered or stacked coding';
  return new ContentDecodingError(`the upstream sent a body compressed as ${named}, which the gateway does not decode`);
}

export interface DecodedSink {
  onDecoded(chunk: Buffer): void;
  onDecodedEnd(): void;
  onDecodeError(err: Error): void;
}

export class ContentDecoder {
  readonly #coding: Coding;
  readonly #sink: DecodedSink;
  #stream: zlib.Gunzip | zlib.Inflate | zlib.InflateRaw | zlib.BrotliDecompress | null = null;
  #paused = false;
  #done = false;
  #decoded = 0;

  constructor(coding: Coding, sink: DecodedSink) {
    this.#coding = coding;
    this.#sink = sink;
  }

  write(chunk: Buffer): void {
    if (this.#done || chunk.length === 0) return;
    (this.#stream ?? this.#open(chunk[0]!)).write(chunk);
  }

  end(): void {
    if (this.#done) return;
    // No bytes at all (a 204, an empty error body) decode to nothing.
    if (!this.#stream) {
      this.#done = true;
      this.#sink.onDecodedEnd();
      return;
    }
    this.#stream.end();
  }

  pause(): void {
    this.#paused = true;
    this.#stream?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#stream?.resume();
  }

  destroy(): void {
    this.#done = true;
    this.#stream?.destroy();
  }

  #open(first: number): zlib.Gunzip | zlib.Inflate | zlib.InflateRaw | zlib.BrotliDecompress {
    let s: zlib.Gunzip | zlib.Inflate | zlib.InflateRaw | zlib.BrotliDecompress;
    if (this.#coding === 'gzip') s = zlib.createGunzip();
    else if (this.#coding === 'br') s = zlib.createBrotliDecompress();
    // HTTP's deflate is zlib-wrapped, but servers have long sent raw deflate under that
    // name; a zlib stream's first byte names method 8 in its low nibble.
    else s = (first & 0x0f) === 8 ? zlib.createInflate() : zlib.createInflateRaw();
    s.on('data', (c: Buffer) => {
      if (this.#done) return;
      this.#decoded += c.length;
      // bytesWritten: the compressed bytes the engine has consumed, not those queued.
      if (this.#decoded > RATIO_FREE_BYTES && this.#decoded > s.bytesWritten * MAX_RATIO) {
        this.destroy();
        this.#sink.onDecodeError(new ContentDecodingError(`the upstream's ${this.#coding} body inflates more than ${MAX_RATIO}-fold (a compression bomb)`));
        return;
      }
      try {
        this.#sink.onDecoded(c);
      } catch (err) {
        // Thrown by the consumer inside zlib's event: uncaught, it would end the process.
        this.destroy();
        this.#sink.onDecodeError(err as Error);
      }
    });
    s.on('end', () => {
      if (this.#done) return;
      this.#done = true;
      this.#sink.onDecodedEnd();
    });
    s.on('error', (err: Error) => {
      if (this.#done) return;
      this.#done = true;
      this.#sink.onDecodeError(new ContentDecodingError(`the upstream's ${this.#coding} body could not be decoded (${err.message})`));
    });
    if (this.#paused) s.pause();
    this.#stream = s;
    return s;
  }
}
