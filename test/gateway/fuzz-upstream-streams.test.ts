import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultConfig, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { pick, prng } from '../helpers/fuzz.ts';

// The relay against generated upstream streams: valid frames mixed with comments, pings,
// CRLF line ends, frames without the space after `data:`, JSON split over data lines,
// broken JSON, a byte order mark, bytes that are not UTF-8, a 100 KB frame, error events,
// usage frames, and streams cut short or killed mid-frame, each delivered in randomly
// split reads. Whatever the upstream does, the client's stream ends in `[DONE]` or one
// error event, nothing hangs, no 500, and afterwards no reservation is left open and the
// ledger balances. Seeded; a failure names the seed and the script.

const SEED = Number(process.env.FUZZ_SEED ?? 20261203);
const CASES = Number(process.env.FUZZ_CASES ?? 200);

const chunk = (delta: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id: 'chatcmpl-f', object: 'chat.completion.chunk', created: 1, model: 'upstream-flash', choices: [{ index: 0, delta, finish_reason: null }], ...extra });
const WORDS = ['Hello', ' world', ' 你好', ' 🙂', ' "quoted"', ' back\\slash', ' line\nbreak', ''];

/** One upstream response: what to send (as bytes, split into reads) and how it ends. */
interface Script {
  parts: Buffer[];
  /** Destroy the socket after the last part instead of ending the response. */
  kill: boolean;
  describe: string;
}

function generate(rand: () => number): Script {
  const frames: Array<[string, Buffer]> = [];
  const add = (label: string, text: string | Buffer) => frames.push([label, typeof text === 'string' ? Buffer.from(text) : text]);
  if (rand() < 0.1) add('bom', Buffer.from([0xef, 0xbb, 0xbf]));
  add('role', `data: ${chunk({ role: 'assistant', content: '' })}\n\n`);
  const n = Math.floor(rand() * 12);
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.45) add('content', `data: ${chunk({ content: pick(rand, WORDS) })}\n\n`);
    else if (r < 0.5) add('crlf', `data: ${chunk({ content: ' crlf' })}\r\n\r\n`);
    else if (r < 0.55) add('nospace', `data:${chunk({ content: ' tight' })}\n\n`);
    else if (r < 0.6) add('comment', ': keep-alive\n\n');
    else if (r < 0.65) add('ping', 'event: ping\ndata: {}\n\n');
    else if (r < 0.7) {
      const json = chunk({ content: ' split' });
      const cut = Math.floor(json.length / 2);
      add('multiline', `data: ${json.slice(0, cut)}\ndata: ${json.slice(cut)}\n\n`);
    } else if (r < 0.75) add('badjson', 'data: {"choices":[{"delta":{"content":"x"\n\n');
    else if (r < 0.8) add('notutf8', Buffer.concat([Buffer.from('data: {"object":"chat.completion.chunk","model":"upstream-flash","choices":[{"index":0,"delta":{"content":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}}]}\n\n')]));
    else if (r < 0.83) add('huge', `data: ${chunk({ content: 'x'.repeat(100_000) })}\n\n`);
    else if (r < 0.86) add('retry', 'retry: 1000\n\n');
    else if (r < 0.9) add('tool', `data: ${chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":' } }] })}\n\n`);
    else if (r < 0.93) add('error', `data: ${JSON.stringify({ error: { message: 'upstream exploded', type: 'server_error', code: null } })}\n\n`);
    else if (r < 0.96) add('nullusage', `data: ${chunk({ content: ' u' }, { usage: null })}\n\n`);
    else add('empty', 'data: \n\n');
  }
  const ending = rand();
  if (ending < 0.55) {
    add('finish', `data: ${JSON.stringify({ id: 'chatcmpl-f', object: 'chat.completion.chunk', created: 1, model: 'upstream-flash', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
    if (rand() < 0.8) add('usage', `data: ${JSON.stringify({ id: 'chatcmpl-f', object: 'chat.completion.chunk', created: 1, model: 'upstream-flash', choices: [], usage: { prompt_tokens: 7, completion_tokens: 1 + Math.floor(rand() * 50), total_tokens: 0 } })}\n\n`);
    add('done', 'data: [DONE]\n\n');
    if (rand() < 0.1) add('after-done', `data: ${chunk({ content: 'late' })}\n\n`);
  } else if (ending < 0.75) {
    // Cut mid-frame.
    add('cut', `data: ${chunk({ content: ' cut' }).slice(0, 20)}`);
  } // else: just stops after the last frame, with no [DONE]
  const bytes = Buffer.concat(frames.map(([, b]) => b));
  // Random reads: 1 to 8 cut points.
  const cuts = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * bytes.length)).sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, bytes.length]) {
    if (c > from) parts.push(bytes.subarray(from, c));
    from = Math.max(from, c);
  }
  return { parts, kill: ending >= 0.75 && rand() < 0.5, describe: frames.map(([l]) => l).join(',') };
}

describe('generated upstream streams', () => {
  let server: Server;
  let tg: TestGateway;
  let key: string;
  let accountId: string;
  const scripts = new Map<number, Script>();

  before(async () => {
    // The upstream reads which script to play from the prompt ("script:N").
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', async () => {
        const n = Number(/script:(\d+)/.exec(body)?.[1]);
        const script = scripts.get(n);
        if (!script) {
          res.writeHead(500).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const p of script.parts) {
          if (res.destroyed) return;
          res.write(p);
          await new Promise((r) => setImmediate(r));
        }
        if (script.kill) res.socket?.destroy();
        else res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const config = defaultConfig(`http://127.0.0.1:${port}/v1`) as any;
    // Most generated streams fail, and a failed stream counts against the upstream's
    // breaker: kept closed, every stream reaches the relay under test.
    config.providers[0].breaker = { failures: 1_000_000, cooldown_ms: 1 };
    tg = await startTestGateway({ config });
    ({ key, accountId } = await tg.customer({ creditUsd: '1000' }));
  });
  after(async () => {
    await tg.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test(`${CASES} generated streams (seed ${SEED}): each ends in [DONE] or one error event; no reservation left open`, async () => {
    const rand = prng(SEED);
    for (let i = 0; i < CASES; i++) scripts.set(i, generate(rand));
    const endings = new Map<string, number>();
    for (let i = 0; i < CASES; i += 8) {
      await Promise.all(
        Array.from({ length: Math.min(8, CASES - i) }, async (_, j) => {
          const n = i + j;
          const includeUsage = n % 2 === 0;
          const t0 = performance.now();
          const where = `script ${n} (seed ${SEED}; ${scripts.get(n)!.describe}; include_usage ${includeUsage})`;
          const res = await fetch(`${tg.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, stream_options: { include_usage: includeUsage }, max_tokens: 100, messages: [{ role: 'user', content: `script:${n}` }] }),
            signal: AbortSignal.timeout(10_000),
          });
          const text = await res.text();
          if (process.env.FUZZ_VERBOSE && performance.now() - t0 > 500) console.log('slow', Math.round(performance.now() - t0), where);
          assert.ok(res.status < 500 || res.status === 502, `${where} → ${res.status} ${text.slice(0, 300)}`);
          if (res.status !== 200) {
            const e = JSON.parse(text).error;
            assert.equal(typeof e.message, 'string', where);
            endings.set(`http ${res.status}`, (endings.get(`http ${res.status}`) ?? 0) + 1);
            return;
          }
          assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/, where);
          const events = text.split('\n\n').filter((e) => e !== '');
          const last = events.at(-1) ?? '';
          const errors = events.filter((e) => e.startsWith('data: {"error"'));
          if (last === 'data: [DONE]') {
            assert.equal(errors.length, 0, `${where}: no error event before [DONE]`);
            assert.equal(events.filter((e) => e === 'data: [DONE]').length, 1, `${where}: one [DONE]`);
            endings.set('done', (endings.get('done') ?? 0) + 1);
          } else {
            assert.ok(last.startsWith('data: {"error"'), `${where}: ends with [DONE] or an error event, got ${JSON.stringify(last.slice(0, 200))}`);
            assert.equal(errors.length, 1, `${where}: one error event`);
            assert.ok(!text.includes('[DONE]'), `${where}: no [DONE] after a failure`);
            endings.set('error', (endings.get('error') ?? 0) + 1);
          }
          // What the client sees carries the public model name, never the upstream's.
          assert.ok(!text.includes('"model":"upstream-flash"'), `${where}: upstream model name leaked`);
        }),
      );
    }
    if (process.env.FUZZ_VERBOSE) console.log(JSON.stringify([...endings]));
    assert.ok((endings.get('done') ?? 0) > CASES / 5 && (endings.get('error') ?? 0) > CASES / 10, `endings ${JSON.stringify([...endings])}`);
    await tg.gw.rt.journal.flush();
    const account = (await tg.admin('GET', `/accounts/${accountId}`)).body;
    assert.equal(account.reserved_usd, '0.00', 'every reservation settled');
    assert.deepEqual((await tg.admin('GET', '/ledger/verify')).body, { ok: true, mismatches: [] });
    assert.equal((await fetch(`${tg.url}/healthz`)).status, 200);
  });
});
