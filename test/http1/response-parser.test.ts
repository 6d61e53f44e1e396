import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseParser, type ResponseHead } from '../../src/http1/response-parser.ts';

// The parser alone, fed bytes in every possible split: what it delivers must not depend
// on how the network cut the response, and anything malformed must be an error.

interface Parsed {
  heads: ResponseHead[];
  body: Buffer;
  ended: number;
  parser: ResponseParser;
}

function parse(pieces: Buffer[], opts: { noBody?: boolean; close?: boolean } = {}): Parsed {
  const out: Parsed = { heads: [], body: Buffer.alloc(0), ended: 0, parser: null as unknown as ResponseParser };
  const chunks: Buffer[] = [];
  const parser = new ResponseParser({
    onHead: (h) => out.heads.push(h),
    onData: (c) => chunks.push(Buffer.from(c)),
    onEnd: () => out.ended++,
  });
  parser.reset(opts.noBody ?? false);
  for (const p of pieces) parser.execute(p);
  if (opts.close) parser.finishOnClose();
  out.body = Buffer.concat(chunks);
  out.parser = parser;
  return out;
}

/** Deterministic pseudo-random splits of `buf` into 1..n pieces. */
function splits(buf: Buffer, seed: number): Buffer[] {
  let s = seed;
  const rnd = (): number => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const n = 1 + Math.floor(rnd() * (rnd() < 0.3 ? 3 : 40));
    out.push(buf.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

const CHUNKED = b(
  'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nX-Multi: a\r\nx-multi: b\r\n\r\n' +
    '17\r\ndata: {"x":"héllo"}\r\n\r\n\r\n' +
    '5;name=value\r\nabcde\r\n' +
    'A\r\n0123456789\r\n' +
    '0\r\nx-trailer: 1\r\n\r\n',
);
const CHUNKED_BODY = 'data: {"x":"héllo"}\r\n\r\nabcde0123456789';

describe('ResponseParser', () => {
  test('a chunked response parses identically however it is split', () => {
    const whole = parse([CHUNKED]);
    assert.equal(whole.heads.length, 1);
    assert.equal(whole.heads[0]!.statusCode, 200);
    assert.equal(whole.body.toString('latin1'), CHUNKED_BODY);
    assert.equal(whole.ended, 1);
    assert.equal(whole.parser.done, true);
    assert.equal(whole.parser.keepAlive, true);
    for (let seed = 1; seed <= 300; seed++) {
      const r = parse(splits(CHUNKED, seed));
      assert.equal(r.body.toString('latin1'), CHUNKED_BODY, `seed ${seed}`);
      assert.equal(r.ended, 1, `seed ${seed}`);
      assert.deepEqual(r.heads[0]!.headers.raw, whole.heads[0]!.headers.raw, `seed ${seed}`);
    }
    const bytewise = parse([...CHUNKED].map((x) => Buffer.from([x])));
    assert.equal(bytewise.body.toString('latin1'), CHUNKED_BODY);
  });

  test('headers keep their order and case; get() and all() match names in any case', () => {
    const h = parse([CHUNKED]).heads[0]!.headers;
    assert.equal(h.raw[0], 'Content-Type');
    assert.equal(h.get('content-type'), 'text/event-stream');
    assert.equal(h.get('x-multi'), 'a, b');
    assert.deepEqual(h.all('x-multi'), ['a', 'b']);
    assert.equal(h.get('missing'), undefined);
  });

  test('content-length framing stops exactly at the length and notes extra bytes', () => {
    const r = parse([b('HTTP/1.1 201 Created\r\ncontent-length: 5\r\nkeep-alive: timeout=7\r\n\r\nhelloEXTRA')]);
    assert.equal(r.heads[0]!.statusCode, 201);
    assert.equal(r.body.toString(), 'hello');
    assert.equal(r.ended, 1);
    assert.equal(r.parser.keepAliveTimeoutS, 7);
    assert.equal(r.parser.extraBytes, 5);
    assert.equal(r.parser.keepAlive, false, 'a connection that sent more than asked for is not reused');
  });

  test('1xx answers are skipped; 204, 304 and HEAD responses have no body', () => {
    const r = parse([b('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')]);
    assert.deepEqual(r.heads.map((h) => h.statusCode), [200]);
    assert.equal(r.body.toString(), 'ok');
    for (const status of ['204 No Content', '304 Not Modified']) {
      const n = parse([b(`HTTP/1.1 ${status}\r\ncontent-length: 10\r\n\r\n`)]);
      assert.equal(n.ended, 1, status);
      assert.equal(n.body.length, 0, status);
    }
    const head = parse([b('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n')], { noBody: true });
    assert.equal(head.ended, 1);
  });

  test('a body without length ends with the connection, which is then not reusable', () => {
    const r = parse([b('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nsome'), b(' text')]);
    assert.equal(r.ended, 0);
    assert.equal(r.parser.finishOnClose(), true);
    assert.equal(r.body.toString(), 'some text');
    assert.equal(r.ended, 1);
    assert.equal(r.parser.keepAlive, false);
    const cut = parse([b('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort')]);
    assert.equal(cut.parser.finishOnClose(), false, 'a content-length body cut short is not complete');
  });

  test('connection tokens decide reuse: close on 1.1, keep-alive on 1.0', () => {
    assert.equal(parse([b('HTTP/1.1 200 OK\r\nConnection: Close\r\ncontent-length: 0\r\n\r\n')]).parser.keepAlive, false);
    assert.equal(parse([b('HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n')]).parser.keepAlive, false);
    assert.equal(parse([b('HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n')]).parser.keepAlive, true);
  });

  test('every malformed response is an UPSTREAM_BAD_RESPONSE error', () => {
    const bad: Record<string, string> = {
      'garbage status line': 'HTXP/1.1 200 OK\r\n\r\n',
      'four-digit status': 'HTTP/1.1 2000 OK\r\n\r\n',
      'status below 100': 'HTTP/1.1 099 Odd\r\n\r\n',
      'HTTP/2 status line': 'HTTP/2 200\r\n\r\n',
      'header without colon': 'HTTP/1.1 200 OK\r\nno-colon\r\n\r\n',
      'space in header name': 'HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n',
      'obsolete line folding': 'HTTP/1.1 200 OK\r\nx-a: 1\r\n  folded\r\n\r\n',
      'bare LF': 'HTTP/1.1 200 OK\nx-a: 1\r\n\r\n',
      'bare CR': 'HTTP/1.1 200 OK\r\nx-a: 1\r2\r\n\r\n',
      'NUL in a value': 'HTTP/1.1 200 OK\r\nx-a: 1\0\r\n\r\n',
      'both framings': 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n',
      'conflicting lengths': 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n',
      'non-numeric length': 'HTTP/1.1 200 OK\r\ncontent-length: 3x\r\n\r\n',
      'gzip transfer coding': 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n',
      'bad chunk size': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
      'chunk size of 14 digits': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n00000000000001\r\nx\r\n',
      'chunk size with a sign': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n+1\r\nx\r\n',
      'chunk without CRLF after data': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcX\r\n',
      'protocol switch': 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n',
    };
    for (const [name, text] of Object.entries(bad)) {
      assert.throws(() => parse([b(text)]), (err: Error & { code?: string }) => err.code === 'UPSTREAM_BAD_RESPONSE', name);
    }
    assert.throws(() => parse([b(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(70_000)}\r\n\r\n`)]), /64 KiB/);
    // Split at every byte, the head limit still holds without the terminator in sight.
    const big = b(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(70_000)}`);
    assert.throws(() => parse(splits(big, 7)), /64 KiB/);
  });

  test('a duplicate content-length with the same value is accepted', () => {
    const r = parse([b('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nContent-Length: 2\r\n\r\nok')]);
    assert.equal(r.body.toString(), 'ok');
  });

  test('reset() makes the parser ready for the next response on the same connection', () => {
    const chunks: string[] = [];
    let ends = 0;
    const p = new ResponseParser({ onHead: () => {}, onData: (c) => chunks.push(c.toString()), onEnd: () => ends++ });
    p.reset();
    p.execute(b('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n'));
    p.reset();
    p.execute(b('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\ncd'));
    assert.deepEqual(chunks, ['ab', 'cd']);
    assert.equal(ends, 2);
  });
});
