// An incremental, strict parser for HTTP/1.1 responses, fed the bytes of one
// connection as they arrive. It frames the body (content-length, chunked, or until
// the connection closes) and hands body bytes on as views of the input, never copied.
// Anything it does not understand is an error rather than a guess: the connection is
// then closed, so a confused framing can never leak one response into the next.

export class ResponseParseError extends Error {
  readonly code = 'UPSTREAM_BAD_RESPONSE';
}

/**
 * A response's headers as they arrived, in order. Lookups take a lower-case name and
 * match the names as received in any case. Kept as a flat list because the gateway
 * reads two or three of them: an object keyed by every name cost more than the rest of
 * the parse (a 26-header OpenAI head: 10–13 µs as an object, 4–6 µs as a list).
 */
export class ResponseHeaders {
  /** name, value, name, value, ... as received. */
  readonly raw: readonly string[];

  constructor(raw: readonly string[]) {
    this.raw = raw;
  }

  /** The value, or the values joined by ", " when it came more than once (set-cookie: use all()). */
  get(name: string): string | undefined {
    let out: string | undefined;
    const raw = this.raw;
    const n = name.length;
    for (let i = 0; i < raw.length; i += 2) {
      const h = raw[i]!;
      if (h.length === n && (h === name || h.toLowerCase() === name)) out = out === undefined ? raw[i + 1]! : `${out}, ${raw[i + 1]!}`;
    }
    return out;
  }

  /** Every value of `name` (lower case), in order. */
  all(name: string): string[] {
    const out: string[] = [];
    const raw = this.raw;
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
    return out;
  }
}

export interface ResponseHead {
  statusCode: number;
  headers: ResponseHeaders;
}

export interface ParserSink {
  /** The final (non-1xx) response head. */
  onHead(head: ResponseHead): void;
  onData(chunk: Buffer): void;
  onEnd(): void;
}

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_LINE_BYTES = 4 * 1024;
const KEEP_ALIVE_TIMEOUT = /timeout\s*=\s*(\d+)/i;

/** Where the line starting at `pos` ends (its CR); a lone CR or LF inside it is an error. */
function lineEnd(text: string, pos: number): number {
  let lf = text.indexOf('\n', pos);
  if (lf < 0) lf = text.length + 1; // the head's last line: its CRLF was cut off by the caller
  else if (text.charCodeAt(lf - 1) !== 13) throw new ResponseParseError('bare LF in the response head');
  const cr = text.indexOf('\r', pos);
  if (cr >= 0 && cr < lf - 1) throw new ResponseParseError('bare CR in the response head');
  return lf - 1;
}

/**
 * An incomplete head with a LF not preceded by CR: a server that ends lines with bare
 * LFs would never send the CRLFCRLF we wait for, and the call would hang to its timeout.
 */
function rejectBareLf(buf: Buffer, from: number): void {
  for (let lf = buf.indexOf(10, from); lf >= 0; lf = buf.indexOf(10, lf + 1)) {
    if (lf === from || buf[lf - 1] !== 13) throw new ResponseParseError('bare LF in the response head');
  }
}

// RFC 9110 tchar, as a lookup table.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

function isToken(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c > 127 || TCHAR[c] === 0) return false;
  }
  return true;
}

// A server sends the same keep-alive header every time: remember the last one read.
let lastKeepAlive = '';
let lastKeepAliveTimeout: number | undefined;

function keepAliveTimeout(header: string): number | undefined {
  if (header !== lastKeepAlive) {
    const m = KEEP_ALIVE_TIMEOUT.exec(header);
    lastKeepAlive = header;
    lastKeepAliveTimeout = m ? Number(m[1]) : undefined;
  }
  return lastKeepAliveTimeout;
}

/** The value of an ASCII hex digit, or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 32;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

function join(prev: string | undefined, value: string): string {
  return prev === undefined ? value : `${prev}, ${value}`;
}

function isOws(c: number): boolean {
  return c === 32 || c === 9;
}

/** "HTTP/1.x NNN[ reason]" up to `eol`: the status code, or throws. */
function parseStatusLine(text: string, eol: number): number {
  const d0 = text.charCodeAt(9) - 48;
  const d1 = text.charCodeAt(10) - 48;
  const d2 = text.charCodeAt(11) - 48;
  const ok =
    eol >= 12 &&
    text.startsWith('HTTP/1.') &&
    (text.charCodeAt(7) === 48 || text.charCodeAt(7) === 49) &&
    text.charCodeAt(8) === 32 &&
    d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9 &&
    (eol === 12 || text.charCodeAt(12) === 32);
  if (!ok) throw new ResponseParseError(`invalid status line ${JSON.stringify(text.slice(0, Math.min(eol, 80)))}`);
  return d0 * 100 + d1 * 10 + d2;
}

const CHUNK_SIZE = /^[0-9A-Fa-f]{1,13}$/;

// Parser states (numbers, for a cheap switch).
const State = {
  Head: 0,
  Length: 1,
  ChunkSize: 2,
  ChunkData: 3,
  ChunkDataEnd: 4,
  Trailers: 5,
  UntilClose: 6,
  Done: 7,
} as const;
type State = (typeof State)[keyof typeof State];

export class ResponseParser {
  #sink: ParserSink;
  #state: State = State.Head;
  #pendingHead: Buffer | null = null;
  #line = '';
  #trailerBytes = 0;
  #remaining = 0;
  #crlfSeen = 0;
  #stopped = false;
  #noBody = false;
  /** False when the connection may not carry another request after this response. */
  keepAlive = true;
  /** Seconds from the server's `keep-alive: timeout=N`, when it sent one. */
  keepAliveTimeoutS: number | undefined;
  /** Bytes that arrived after the end of the response (the connection must not be reused). */
  extraBytes = 0;

  constructor(sink: ParserSink) {
    this.#sink = sink;
  }

  /** Ready for the response to the next request; `noBody` for HEAD requests. */
  reset(noBody = false): void {
    this.#state = State.Head;
    this.#pendingHead = null;
    this.#line = '';
    this.#trailerBytes = 0;
    this.#remaining = 0;
    this.#crlfSeen = 0;
    this.#stopped = false;
    this.#noBody = noBody;
    this.keepAlive = true;
    this.keepAliveTimeoutS = undefined;
    this.extraBytes = 0;
  }

  get done(): boolean {
    return this.#state === State.Done;
  }

  /** True once the head has been delivered. */
  get headDone(): boolean {
    return this.#state !== State.Head;
  }

  /** Stops delivering anything from the current input (the call was aborted). */
  stop(): void {
    this.#stopped = true;
  }

  /** The connection closed: ends a body framed by the close; false if the response is cut short. */
  finishOnClose(): boolean {
    if (this.#state === State.Done) return true;
    if (this.#state !== State.UntilClose) return false;
    this.#state = State.Done;
    this.#sink.onEnd();
    return true;
  }

  /** Consumes one read from the socket. Throws ResponseParseError on malformed input. */
  execute(buf: Buffer): void {
    let pos = 0;
    const len = buf.length;
    while (pos < len && !this.#stopped) {
      switch (this.#state) {
        case State.Head:
          pos = this.#head(buf, pos);
          break;
        case State.Length:
        case State.ChunkData: {
          const n = Math.min(this.#remaining, len - pos);
          this.#remaining -= n;
          const chunk = buf.subarray(pos, pos + n);
          pos += n;
          const whole = this.#state === State.Length;
          if (this.#remaining === 0) {
            this.#state = whole ? State.Done : State.ChunkDataEnd;
            this.#crlfSeen = 0;
          }
          this.#sink.onData(chunk);
          if (whole && this.#state === State.Done && !this.#stopped) this.#sink.onEnd();
          break;
        }
        case State.ChunkSize:
          pos = this.#chunkSize(buf, pos);
          break;
        case State.ChunkDataEnd: {
          const want = this.#crlfSeen === 0 ? 13 : 10;
          if (buf[pos] !== want) throw new ResponseParseError('chunk data is not followed by CRLF');
          pos++;
          if (++this.#crlfSeen === 2) this.#state = State.ChunkSize;
          break;
        }
        case State.Trailers:
          pos = this.#trailers(buf, pos);
          break;
        case State.UntilClose: {
          const chunk = pos === 0 ? buf : buf.subarray(pos);
          pos = len;
          this.#sink.onData(chunk);
          break;
        }
        case State.Done:
          this.extraBytes += len - pos;
          this.keepAlive = false;
          return;
      }
    }
  }

  #head(buf: Buffer, pos: number): number {
    const pending = this.#pendingHead;
    if (pending) {
      const data = Buffer.concat([pending, buf.subarray(pos)]);
      const end = data.indexOf('\r\n\r\n', Math.max(0, pending.length - 3), 'latin1');
      if (end < 0) {
        if (data.length > MAX_HEAD_BYTES) throw new ResponseParseError('response head is larger than 64 KiB');
        rejectBareLf(data, 0);
        this.#pendingHead = data;
        return buf.length;
      }
      if (end > MAX_HEAD_BYTES) throw new ResponseParseError('response head is larger than 64 KiB');
      this.#pendingHead = null;
      this.#parseHead(data.toString('latin1', 0, end));
      return pos + end + 4 - pending.length;
    }
    const end = buf.indexOf('\r\n\r\n', pos, 'latin1');
    if (end < 0) {
      if (buf.length - pos > MAX_HEAD_BYTES) throw new ResponseParseError('response head is larger than 64 KiB');
      rejectBareLf(buf, pos);
      this.#pendingHead = Buffer.from(buf.subarray(pos));
      return buf.length;
    }
    if (end - pos > MAX_HEAD_BYTES) throw new ResponseParseError('response head is larger than 64 KiB');
    this.#parseHead(buf.toString('latin1', pos, end));
    return end + 4;
  }

  #parseHead(text: string): void {
    if (text.includes('\0')) throw new ResponseParseError('NUL in the response head');
    let eol = lineEnd(text, 0);
    const statusCode = parseStatusLine(text, eol);
    const http10 = text.charCodeAt(7) === 48;
    const raw: string[] = [];
    let connection: string | undefined;
    let keepAlive: string | undefined;
    let te: string | undefined;
    let cl: string | undefined;
    let pos = eol + 2;
    while (pos < text.length) {
      eol = lineEnd(text, pos);
      const colon = text.indexOf(':', pos);
      if (colon <= pos || colon > eol || !isToken(text, pos, colon)) throw new ResponseParseError('invalid header line');
      let vs = colon + 1;
      let ve = eol;
      while (vs < ve && isOws(text.charCodeAt(vs))) vs++;
      while (ve > vs && isOws(text.charCodeAt(ve - 1))) ve--;
      const name = text.slice(pos, colon);
      const value = text.slice(vs, ve);
      raw.push(name, value);
      // Only the headers that frame the response are looked at here.
      switch (colon - pos) {
        case 10:
          if (name.toLowerCase() === 'connection') connection = join(connection, value);
          else if (name.toLowerCase() === 'keep-alive') keepAlive = join(keepAlive, value);
          break;
        case 14:
          if (name.toLowerCase() === 'content-length') {
            if (cl !== undefined && cl !== value) throw new ResponseParseError('conflicting content-length');
            cl = value;
          }
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') te = join(te, value);
          break;
      }
      pos = eol + 2;
    }
    const headers = new ResponseHeaders(raw);

    if (statusCode < 200) {
      // 1xx answers (100 Continue, 103 Early Hints) precede the real response.
      if (statusCode === 101) throw new ResponseParseError('unexpected protocol switch (101)');
      return;
    }

    const tokens = connection === undefined ? '' : connection.toLowerCase();
    this.keepAlive = http10 ? tokens.includes('keep-alive') : !tokens.includes('close');
    if (keepAlive !== undefined) this.keepAliveTimeoutS = keepAliveTimeout(keepAlive);

    if (this.#noBody || statusCode === 204 || statusCode === 304) {
      this.#state = State.Done;
    } else if (te !== undefined) {
      if (cl !== undefined) throw new ResponseParseError('both transfer-encoding and content-length');
      const codings = te.split(',').map((s) => s.trim().toLowerCase());
      if (codings.length !== 1 || codings[0] !== 'chunked') throw new ResponseParseError(`unsupported transfer-encoding ${JSON.stringify(codings.join(', '))}`);
      this.#state = State.ChunkSize;
      this.#line = '';
    } else if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) throw new ResponseParseError('invalid content-length');
      this.#remaining = Number(cl);
      this.#state = this.#remaining === 0 ? State.Done : State.Length;
    } else {
      this.#state = State.UntilClose;
      this.keepAlive = false;
    }
    this.#sink.onHead({ statusCode, headers });
    if (this.#state === State.Done && !this.#stopped) this.#sink.onEnd();
  }

  /** Reads up to CRLF into #line; returns the new position, or -1 when the line is not complete yet. */
  #readLine(buf: Buffer, pos: number): number {
    const lf = buf.indexOf(10, pos);
    if (lf < 0) {
      this.#line += buf.toString('latin1', pos);
      if (this.#line.length > MAX_LINE_BYTES) throw new ResponseParseError('chunk or trailer line too long');
      return -1;
    }
    this.#line += buf.toString('latin1', pos, lf + 1);
    if (this.#line.length > MAX_LINE_BYTES) throw new ResponseParseError('chunk or trailer line too long');
    if (this.#line.length < 2 || this.#line.charCodeAt(this.#line.length - 2) !== 13) throw new ResponseParseError('line not ended by CRLF');
    return lf + 1;
  }

  #chunkSize(buf: Buffer, pos: number): number {
    let size = 0;
    let next = -1;
    if (this.#line === '') {
      // A streamed response has a size line per event, nearly always whole in one read
      // and without extensions: read its hex digits straight from the bytes.
      let i = pos;
      for (; i < buf.length && i - pos < 13; i++) {
        const d = hexDigit(buf[i]!);
        if (d < 0) break;
        size = size * 16 + d;
      }
      if (i > pos && buf[i] === 13 && buf[i + 1] === 10) next = i + 2;
    }
    if (next < 0) {
      next = this.#readLine(buf, pos);
      if (next < 0) return buf.length;
      const line = this.#line.slice(0, -2);
      this.#line = '';
      const semi = line.indexOf(';');
      const sizeText = (semi < 0 ? line : line.slice(0, semi)).trimEnd();
      if (!CHUNK_SIZE.test(sizeText)) throw new ResponseParseError('invalid chunk size');
      size = parseInt(sizeText, 16);
    }
    if (size === 0) {
      this.#state = State.Trailers;
      this.#trailerBytes = 0;
    } else {
      this.#remaining = size;
      this.#state = State.ChunkData;
    }
    return next;
  }

  #trailers(buf: Buffer, pos: number): number {
    const next = this.#readLine(buf, pos);
    if (next < 0) return buf.length;
    const line = this.#line;
    this.#line = '';
    this.#trailerBytes += line.length;
    if (this.#trailerBytes > MAX_HEAD_BYTES) throw new ResponseParseError('trailers larger than 64 KiB');
    if (line.length === 2) {
      this.#state = State.Done;
      this.#sink.onEnd();
    } else if (line.indexOf(':') <= 0) {
      throw new ResponseParseError('invalid trailer line');
    }
    return next;
  }
}
