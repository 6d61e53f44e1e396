import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runTollgateToEnd } from '../helpers/tollgate-process.ts';

// Whatever answers at TOLLGATE_URL may echo the request's Authorization header (a proxy's
// error page, a wrong URL): the CLI prints what it gets, and must not print the admin token.

const TOKEN = 'tg-admin-SECRETTOKEN123456';

for (const shape of ['text', 'json', 'json 200'] as const) {
  test(`a server that echoes the admin token (${shape}) does not get it printed`, async (t) => {
    const server = createServer((req, res) => {
      const said = `denied for ${req.headers.authorization}`;
      if (shape === 'text') res.writeHead(401, { 'content-type': 'text/plain' }).end(said);
      else if (shape === 'json') res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: said } }));
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: [], note: said, has_more: false }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const r = await runTollgateToEnd(['accounts', 'list'], { env: { TOLLGATE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, TOLLGATE_ADMIN_TOKEN: TOKEN } });
    const out = r.stdout + r.stderr;
    assert.ok(!out.includes('SECRETTOKEN'), out);
    assert.match(out, /denied for Bearer \[redacted\]/);
    assert.equal(r.code, shape === 'json 200' ? 0 : 1);
  });
}
