import net from 'node:net';
import tls from 'node:tls';
import { ResponseParser, type ParserSink, type ResponseHead, type ResponseHeaders } from './response-parser.ts';
import { toByteString } from '../protocol/byte-strings.ts';
import { HTTP_TOKEN, UNSAFE_HEADER_VALUE } from '../protocol/http-header.ts';

// A keep-alive pool of HTTP/1.1 connections to one origin, for the gateway's calls
// to its upstreams. Why not undici: its per-call machinery (request validation, queue
// resumption, timers, a wasm parser calling back into JS for every header) was a large
// share of the relay's CPU. This pool writes each request with one socket write and
// frames the response with ResponseParser: ~10 µs less user CPU per call than undici's
// Pool.dispatch() (`node bench/upstream-client.ts`; bench/README.md). It does only what
// the gateway needs: one request at a time per connection (no pipelining), bodies given
// whole as a string, responses streamed to a handler with backpressure.

export interface RequestOptions {
  method: string;
  /** Path and query, starting with "/". */
  path: string;
  headers: Readonly<Record<string, string | undefined>>;
  body?: string;
  /** 'latin1' when `body` is a byte string (protocol/byte-strings.ts): sent as its bytes. */
  bodyEncoding?: 'utf8' | 'latin1';
}

/** What a handler can do to its own call. */
export interface CallController {
  /** Stops reading the response until resume(). */
  pause(): void;
  resume(): void;
  /** Ends the call (before or during the response) with `reason`; the connection is closed. */
  abort(reason: Error): void;
}

export interface ResponseHandler {
  /** Called once, synchronously inside dispatch(). */
  onRequestStart(controller: CallController): void;
  onResponseStart(controller: CallController, statusCode: number, headers: ResponseHeaders): void;
  onResponseData(controller: CallController, chunk: Buffer): void;
  onResponseEnd(controller: CallController): void;
  /** The call failed: transport error, timeout, invalid response or abort. Called at most once, and never after onResponseEnd. */
  onResponseError(controller: CallController, err: Error): void;
}

export interface PoolOptions {
  /** Most connections open at once; further calls wait in order. */
  connections: number;
  /** An idle connection is closed after this long (or sooner, when the server's keep-alive hint says so). */
  keepAliveTimeoutMs: number;
  /** Longest silence on a busy connection (waiting for the head, or between body reads). */
  timeoutMs: number;
  connectTimeoutMs: number;
  /** Extra TLS options for https origins (e.g. `ca`); certificates are always verified. */
  tls?: tls.ConnectionOptions;
}

export class UpstreamTransportError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

const UNSAFE_PATH = /[\s\0]/;
const OWN_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);
/** How often idle connections past their keep-alive time are closed. */
const SWEEP_MS = 1_000;
/** Margin under the server's keep-alive hint, so we never write on a socket it is closing. */
const HINT_MARGIN_MS = 1_000;

export class ClientPool {
  readonly #options: PoolOptions;
  readonly #host: string;
  readonly #port: number;
  readonly #secure: boolean;
  readonly #hostHeader: string;
  readonly #servername: string | undefined;
  readonly #all = new Set<Connection>();
  #idle: Connection[] = [];
  #queue: Call[] = [];
  #sweeper: NodeJS.Timeout | null = null;
  #closed = false;
  #onDrained: (() => void) | null = null;
  #drained: Promise<void> | null = null;
  /** The last TLS session the origin gave us: new connections resume it (one round trip less). */
  #tlsSession: Buffer | undefined;

  constructor(origin: string, options: PoolOptions) {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported protocol ${url.protocol}`);
    this.#options = options;
    this.#secure = url.protocol === 'https:';
    this.#host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.#port = url.port ? Number(url.port) : this.#secure ? 443 : 80;
    this.#hostHeader = url.host;
    this.#servername = net.isIP(this.#host) ? undefined : this.#host;
  }

  /** Connections open now (busy or idle). */
  get size(): number {
    return this.#all.size;
  }

  dispatch(options: RequestOptions, handler: ResponseHandler): void {
    const call = new Call(this, handler, options.method === 'HEAD');
    handler.onRequestStart(call);
    if (call.done) return;
    if (this.#closed) return call.fail(new UpstreamTransportError('the upstream pool is closed', 'UPSTREAM_POOL_CLOSED'));
    const head = this.#requestText(options);
    if (typeof head !== 'string') return call.fail(head);
    call.text = head;
    if (options.bodyEncoding === 'latin1') call.encoding = 'latin1';
    const conn = this.#checkout();
    if (conn) conn.start(call);
    else if (this.#all.size < this.#options.connections) this.#open().start(call);
    else this.#queue.push(call);
  }

  /** Lets calls in flight finish, then closes every connection. */
  close(): Promise<void> {
    if (this.#drained) return this.#drained;
    this.#closed = true;
    for (const call of this.#queue.splice(0)) call.fail(new UpstreamTransportError('the upstream pool is closed', 'UPSTREAM_POOL_CLOSED'));
    for (const conn of this.#idle.splice(0)) conn.destroy(null);
    this.#stopSweeper();
    this.#drained = this.#all.size === 0 ? Promise.resolve() : new Promise((resolve) => (this.#onDrained = resolve));
    return this.#drained;
  }

  /** Closes every connection now, failing the calls in flight. */
  destroy(): void {
    this.#closed = true;
    const err = new UpstreamTransportError('the upstream pool was destroyed', 'UPSTREAM_POOL_CLOSED');
    for (const call of this.#queue.splice(0)) call.fail(err);
    this.#idle = [];
    for (const conn of [...this.#all]) conn.destroy(err);
    this.#stopSweeper();
  }

  #requestText(o: RequestOptions): string | Error {
    if (!o.path.startsWith('/') || UNSAFE_PATH.test(o.path)) return new UpstreamTransportError('invalid request path', 'UPSTREAM_INVALID_REQUEST');
    if (!HTTP_TOKEN.test(o.method)) return new UpstreamTransportError('invalid request method', 'UPSTREAM_INVALID_REQUEST');
    let text = `${o.method} ${o.path} HTTP/1.1\r\nhost: ${this.#hostHeader}\r\n`;
    const headers = o.headers;
    let acceptEncoding = false;
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      if (!HTTP_TOKEN.test(name) || UNSAFE_HEADER_VALUE.test(value)) {
        // The name only: a header value may be a credential.
        return new UpstreamTransportError(`invalid request header ${JSON.stringify(name.slice(0, 64))}`, 'UPSTREAM_INVALID_REQUEST');
      }
      const lower = name.toLowerCase();
      if (OWN_HEADERS.has(lower)) continue;
      if (lower === 'accept-encoding') acceptEncoding = true;
      text += `${name}: ${value}\r\n`;
    }
    // Said outright: a server may compress for a client that names no encoding (RFC 9110
    // §12.5.3), and some CDN-fronted upstreams do. What arrives compressed anyway is
    // decoded (content-decoder.ts); an operator's own accept-encoding header wins.
    if (!acceptEncoding) text += 'accept-encoding: identity\r\n';
    const body = o.body;
    if (body !== undefined && o.bodyEncoding === 'latin1') return `${toByteString(text)}content-length: ${body.length}\r\n\r\n${body}`;
    if (body !== undefined) return `${text}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    if (o.method === 'POST' || o.method === 'PUT' || o.method === 'PATCH') return `${text}content-length: 0\r\n\r\n`;
    return `${text}\r\n`;
  }

  #checkout(): Connection | null {
    const now = Date.now();
    while (this.#idle.length > 0) {
      const conn = this.#idle.pop()!;
      if (conn.reusableAt(now)) return conn;
      conn.destroy(null);
    }
    return null;
  }

  #open(): Connection {
    const o = this.#options;
    let socket: net.Socket;
    if (this.#secure) {
      const secure = tls.connect({ ...o.tls, host: this.#host, port: this.#port, servername: this.#servername, ALPNProtocols: ['http/1.1'], session: this.#tlsSession });
      secure.on('session', (session: Buffer) => {
        this.#tlsSession = session;
      });
      socket = secure;
    } else {
      socket = net.connect({ host: this.#host, port: this.#port });
    }
    const conn = new Connection(this, socket, this.#secure, o);
    this.#all.add(conn);
    return conn;
  }

  /** A connection finished its call and may carry another. */
  release(conn: Connection): void {
    if (this.#closed) return conn.destroy(null);
    const next = this.#queue.shift();
    if (next) return conn.start(next);
    this.#idle.push(conn);
    if (!this.#sweeper) {
      this.#sweeper = setInterval(() => this.#sweep(), SWEEP_MS);
      this.#sweeper.unref();
    }
  }

  /** A connection is gone; a waiting call may now open a new one. */
  removed(conn: Connection): void {
    if (!this.#all.delete(conn)) return;
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    if (!this.#closed) {
      // Not when a call sent again already took the place (retry()).
      const next = this.#all.size < this.#options.connections ? this.#queue.shift() : undefined;
      if (next) this.#open().start(next);
    } else if (this.#all.size === 0 && this.#onDrained) {
      const drained = this.#onDrained;
      this.#onDrained = null;
      drained();
    }
  }

  /**
   * Sends a call again, on a new connection: its first went out on a reused connection
   * that the server closed without a byte of answer, or answered with a 408. Opened
   * before that connection is removed, so it never counts against the limit and a
   * draining pool waits for it.
   */
  retry(call: Call): void {
    call.retried = true;
    call.text = call.sent;
    this.#open().start(call);
  }

  /** A queued call was aborted before it got a connection. */
  unqueue(call: Call): void {
    const i = this.#queue.indexOf(call);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  #sweep(): void {
    const now = Date.now();
    const idle = this.#idle;
    this.#idle = [];
    const keep: Connection[] = [];
    for (const conn of idle) {
      if (conn.reusableAt(now)) keep.push(conn);
      else conn.destroy(null);
    }
    this.#idle = keep;
    if (keep.length === 0) this.#stopSweeper();
  }

  #stopSweeper(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = null;
  }
}

class Call implements CallController {
  readonly #pool: ClientPool;
  readonly handler: ResponseHandler;
  readonly noBody: boolean;
  text = '';
  /** The request as written, kept until the answer's head in case it must be sent again. */
  sent = '';
  retried = false;
  /** How `text` is written: 'latin1' when it is a byte string. */
  encoding: 'utf8' | 'latin1' = 'utf8';
  conn: Connection | null = null;
  done = false;

  constructor(pool: ClientPool, handler: ResponseHandler, noBody: boolean) {
    this.#pool = pool;
    this.handler = handler;
    this.noBody = noBody;
  }

  pause(): void {
    if (!this.done) this.conn?.pause();
  }

  resume(): void {
    if (!this.done) this.conn?.resume();
  }

  abort(reason: Error): void {
    if (this.done) return;
    if (this.conn) this.conn.destroy(reason);
    else {
      this.#pool.unqueue(this);
      this.fail(reason);
    }
  }

  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.conn = null;
    this.handler.onResponseError(this, err);
  }
}

/**
 * How soon after a request went out on a reused connection its close still reads as the
 * server's idle close crossing the request: the server's FIN or RST is on its way before
 * the request arrives, so it comes back within a round trip.
 */
const IDLE_RACE_MS = 1000;

class Connection implements ParserSink {
  readonly #pool: ClientPool;
  readonly #socket: net.Socket;
  readonly #parser: ResponseParser;
  readonly #options: PoolOptions;
  #call: Call | null = null;
  #connected = false;
  #paused = false;
  #dead = false;
  #idleSince = 0;
  #idleLimitMs: number;
  /** Responses completed on this connection. */
  #served = 0;
  /** Whether any byte of the current call's answer has arrived. */
  #answered = false;
  /** When the current call was written (performance.now()). */
  #sentAt = 0;

  constructor(pool: ClientPool, socket: net.Socket, secure: boolean, options: PoolOptions) {
    this.#pool = pool;
    this.#socket = socket;
    this.#options = options;
    this.#idleLimitMs = options.keepAliveTimeoutMs;
    this.#parser = new ResponseParser(this);
    socket.setNoDelay(true);
    socket.setTimeout(options.connectTimeoutMs);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      this.#connected = true;
      socket.setTimeout(options.timeoutMs);
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onClose(null));
    socket.on('error', (err: Error) => this.#onClose(err));
    socket.on('close', () => this.#onClose(null));
    socket.on('timeout', () => this.#onTimeout());
  }

  start(call: Call): void {
    this.#call = call;
    call.conn = this;
    this.#parser.reset(call.noBody);
    this.#answered = false;
    this.#socket.ref();
    this.#socket.write(call.text, call.encoding);
    this.#sentAt = performance.now();
    if (!call.retried && this.#served > 0) call.sent = call.text;
    call.text = '';
  }

  reusableAt(now: number): boolean {
    return !this.#dead && now - this.#idleSince < this.#idleLimitMs;
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#socket.pause();
    // A consumer that holds the response back is not an upstream gone silent.
    this.#socket.setTimeout(0);
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#socket.setTimeout(this.#connected ? this.#options.timeoutMs : this.#options.connectTimeoutMs);
    this.#socket.resume();
  }

  /** Closes the connection; a call in flight fails with `reason` (or a generic one). */
  destroy(reason: Error | null): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#parser.stop();
    const call = this.#call;
    this.#call = null;
    this.#socket.destroy();
    this.#pool.removed(this);
    if (call) call.fail(reason ?? new UpstreamTransportError('the upstream connection closed', 'UPSTREAM_CLOSED'));
  }

  // ParserSink: the parser's events go to the call in flight.
  onHead(head: ResponseHead): void {
    const call = this.#call!;
    // A 408 on a reused connection is the server timing it out as idle, not an answer to
    // a request it never read: RFC 9110 §15.5.9 lets the client repeat it on a new one.
    if (head.statusCode === 408 && this.#served > 0 && !call.retried) {
      this.#call = null;
      call.conn = null;
      this.#pool.retry(call);
      this.destroy(null);
      return;
    }
    call.sent = '';
    call.handler.onResponseStart(call, head.statusCode, head.headers);
  }

  onData(chunk: Buffer): void {
    const call = this.#call!;
    call.handler.onResponseData(call, chunk);
  }

  onEnd(): void {
    const call = this.#call!;
    call.done = true;
    call.handler.onResponseEnd(call);
  }

  #onData(chunk: Buffer): void {
    const call = this.#call;
    if (!call) {
      // Bytes nobody asked for: the framing can no longer be trusted.
      this.destroy(null);
      return;
    }
    this.#answered = true;
    try {
      this.#parser.execute(chunk);
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    if (this.#parser.done && this.#call === call) this.#finish(call);
  }

  #finish(call: Call): void {
    this.#call = null;
    call.conn = null;
    const parser = this.#parser;
    // An answer that came before the request body was all written (a 413, a 401 on the
    // head alone): the rest of the body is still queued, and a server that stopped
    // reading it would take it for the next request, or never read that far.
    if (!parser.keepAlive || this.#dead || this.#socket.writableLength > 0) {
      this.destroy(null);
      return;
    }
    this.#served++;
    if (this.#paused) this.resume();
    // An idle connection must not keep the process alive.
    this.#socket.unref();
    this.#idleSince = Date.now();
    const hint = parser.keepAliveTimeoutS;
    this.#idleLimitMs = hint === undefined ? this.#options.keepAliveTimeoutMs : Math.min(this.#options.keepAliveTimeoutMs, hint * 1000 - HINT_MARGIN_MS);
    this.#pool.release(this);
  }

  #onClose(err: Error | null): void {
    if (this.#dead) return;
    const call = this.#call;
    // A body framed by the end of the connection is complete only now.
    if (call && err === null && this.#parser.finishOnClose()) {
      this.#call = null;
      call.conn = null;
      this.destroy(null);
      return;
    }
    // A reused connection closed (or reset) at once, before a byte of answer: the server
    // closing it as idle just as this request went out, unread. Sent again once, as a
    // failover to another route would send it anyway. A close that comes later is a
    // server that read the request and worked on it (an upstream may bill the operator
    // for it): that is a failed attempt, not a race, and is not sent twice.
    if (call && !this.#answered && this.#served > 0 && !call.retried && performance.now() - this.#sentAt < IDLE_RACE_MS) {
      this.#call = null;
      call.conn = null;
      this.#pool.retry(call);
      this.destroy(null);
      return;
    }
    const reason = err ?? new UpstreamTransportError(this.#parser.headDone ? 'the upstream closed the connection before the response was complete' : 'the upstream closed the connection without a response', 'UPSTREAM_CLOSED');
    this.destroy(reason);
  }

  #onTimeout(): void {
    const call = this.#call;
    // Idle connections are closed by the pool's sweep, at their keep-alive time.
    if (!call) return;
    if (!this.#connected) return this.destroy(new UpstreamTransportError('connecting to the upstream timed out', 'UPSTREAM_CONNECT_TIMEOUT'));
    if (!this.#parser.headDone) return this.destroy(new UpstreamTransportError('the upstream sent no response in time', 'UPSTREAM_HEADERS_TIMEOUT'));
    this.destroy(new UpstreamTransportError('the upstream stopped sending the response', 'UPSTREAM_BODY_TIMEOUT'));
  }
}
