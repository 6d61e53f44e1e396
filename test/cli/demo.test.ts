import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { runTollgate, type TollgateProcess } from '../helpers/tollgate-process.ts';
import { freePort } from '../helpers/http.ts';

// `tollgate demo`: a streamed answer through the gateway from a simulated upstream, and
// a curl line that works as printed.

let demo: TollgateProcess | undefined;
after(async () => {
  await demo?.stop('SIGKILL');
});

test('tollgate demo prints a streamed answer and a curl line that works', async () => {
  const port = await freePort();
  demo = runTollgate(['demo'], { env: { PORT: String(port) } });
  const out = await demo.waitFor('Press Ctrl-C', 20_000);
  assert.match(out, new RegExp(`gateway on http://127\\.0\\.0\\.1:${port}`));
  assert.match(out, /SIMULATED/);
  // The answer streamed through the gateway, then the usage of the stream.
  assert.match(out, /A streamed answer through the gateway:\n {2}Hello from the simulated upstream! .+ when it ends\.\n/);
  assert.match(out, /Usage reported at the end of the stream: \{"prompt_tokens":\d+,"completion_tokens":\d+/);
  assert.match(out, /"cost":"0\.\d+"/);
  const key = /has a key:\n\s+(sk-tg-[A-Za-z0-9_-]{43})\n/.exec(out)?.[1];
  assert.ok(key, out);
  assert.ok(out.includes(`curl -N http://127.0.0.1:${port}/v1/chat/completions`), out);
  assert.ok(out.includes(`-H "Authorization: Bearer ${key}"`));
  assert.equal(demo.stderr(), '');

  // What the curl line does, done with fetch: it streams.
  const dataLine = /-d '(\{.+\})'/.exec(out)![1]!;
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: dataLine });
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.ok(text.startsWith('data: {'));
  assert.ok(text.endsWith('data: [DONE]\n\n'));

  assert.deepEqual(await demo.stop('SIGINT'), { code: 0, signal: null });
});
