import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ClientPool } from '../../src/http1/client-pool.ts';
import { dispatchUpstream } from '../../src/gateway/upstream-call.ts';
import { fromTransportError } from '../../src/gateway/upstream-errors.ts';

// A body read whole (a non-streaming answer) is bounded: an upstream that never ends
// its answer used to grow the gateway's heap until the process died.

test('a body read whole stops at its limit, closes the connection and becomes a 502', async (t) => {
  let closed!: () => void;
  const serverSawClose = new Promise<void>((r) => (closed = r));
  let sent = 0;
  const server = net.createServer((sock) => {
    sock.once('data', () => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
      const piece = `10000\r\n${'x'.repeat(0x10000)}\r\n`;
      const pump = () => {
        while (!sock.destroyed && sock.write(piece)) sent += 0x10000;
      };
      sock.on('drain', pump);
      pump();
    });
    sock.on('error', () => {});
    sock.on('close', () => closed());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const pool = new ClientPool(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, { connections: 2, keepAliveTimeoutMs: 5_000, timeoutMs: 5_000, connectTimeoutMs: 3_000 });
  t.after(() => pool.destroy());

  const call = dispatchUpstream(pool, { method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: '{}' });
  const res = await call.response;
  const limit = 1024 * 1024;
  const err = await res.body.text('latin1', limit).then(
    () => assert.fail('an endless body was read to its end'),
    (e: unknown) => e as { code?: string },
  );
  assert.equal(err.code, 'UPSTREAM_TOO_LARGE');
  await Promise.race([serverSawClose, new Promise((_, reject) => setTimeout(() => reject(new Error('the upstream connection stayed open')), 3_000))]);
  assert.ok(sent < 64 * limit, `the gateway stopped reading soon after the limit (${sent} bytes sent)`);
  const ge = fromTransportError(err);
  assert.equal(ge.status, 502);
  assert.equal(ge.code, 'upstream_error');
  assert.match(ge.message, /too large/);
});
