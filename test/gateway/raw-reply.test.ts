import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayError } from '../../src/protocol/errors.ts';
import { writeError } from '../../src/gateway/raw-reply.ts';

// The last line of defence of every error reply: a header node:http refuses must not
// leave the client waiting for an answer that never comes.

test('an error reply whose headers node:http refuses still reaches the client, with its request id', async (t) => {
  const server = http.createServer((_req, res) => {
    writeError(res, 'req_test1', new GatewayError('model_not_found', 'No such model.'), { 'x-bad': 'line\nbreak', 'x-fine': 'ok' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 404);
  assert.equal(res.headers.get('x-request-id'), 'req_test1');
  assert.equal(res.headers.get('x-bad'), null);
  const body = (await res.json()) as { error: { code: string; request_id: string } };
  assert.equal(body.error.code, 'model_not_found');
  assert.equal(body.error.request_id, 'req_test1');
});
