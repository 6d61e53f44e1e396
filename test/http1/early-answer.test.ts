import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ClientPool } from '../../src/http1/client-pool.ts';
import { dispatchUpstream } from '../../src/gateway/upstream-call.ts';

// An upstream may answer before it has read the whole request body (a 413 for a body
// too large, a 401 sent on the head alone) and then read no more of it. The answer is
// complete and keep-alive, but the rest of the body is still queued on the connection:
// handed back to the pool, the next call was written behind it, to a server that never
// read that far, and timed out. Such a connection is closed instead (RFC 9112 §9.5: a
// client that sees an early answer stops sending the body and closes).

test('a connection answered before its request body was all written is not reused', async (t) => {
  let connections = 0;
  const server = net.createServer((sock) => {
    const n = ++connections;
    sock.on('error', () => {});
    let head = '';
    const onData = (c: Buffer) => {
      head += c.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      sock.off('data', onData);
      if (n === 1) {
        // Refused on the head alone, the body left unread.
        sock.write('HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\ncontent-length: 27\r\n\r\n{"error":{"message":"big"}}');
        sock.pause();
        return;
      }
      sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    };
    sock.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const pool = new ClientPool(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, { connections: 1, keepAliveTimeoutMs: 5_000, timeoutMs: 2_000, connectTimeoutMs: 2_000 });
  t.after(() => {
    pool.destroy();
    server.close();
  });

  const big = dispatchUpstream(pool, { method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: `{"x":"${'a'.repeat(64 * 1024 * 1024)}"}` });
  const refused = await big.response;
  assert.equal(refused.statusCode, 413);
  assert.match(await refused.body.text(), /big/);

  const next = dispatchUpstream(pool, { method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: '{}' });
  const res = await next.response;
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'ok');
  assert.equal(connections, 2, 'the second call went on a new connection');
});
