// The floor for any Node relay: node:http in, one undici Pool out, bytes piped back,
// nothing else (no auth, no parsing, no metering). ../shared/PEERS.md calibrates the
// gateway's goals against this; the bench runs it beside the gateway so the two can
// be compared in the same run on the same noisy machine.
//   node bench/bare-relay.ts --port N --upstream-port M
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values } = parseArgs({ options: { port: { type: 'string' }, 'upstream-port': { type: 'string' } } });
const pool = new Pool(`http://127.0.0.1:${values['upstream-port']}`, { connections: 512, keepAliveTimeout: 30_000 });

createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    pool
      .request({ path: req.url ?? '/', method: (req.method ?? 'GET') as 'POST', headers: { 'content-type': 'application/json' }, body: chunks.length ? Buffer.concat(chunks) : null })
      .then(async (up) => {
        res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') });
        for await (const c of up.body) res.write(c);
        res.end();
      })
      .catch(() => {
        res.writeHead(502).end();
      });
  });
}).listen(Number(values.port), '127.0.0.1', () => process.stdout.write(`bare relay listening on ${values.port}\n`));
