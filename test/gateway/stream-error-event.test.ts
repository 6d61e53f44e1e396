import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { startServeProcess, type ServeProcess } from '../helpers/tollgate-process.ts';
import { assertNoLeaks, post, UPSTREAM_SECRET, upstreamSecrets } from '../helpers/http.ts';

// An upstream that reports an error inside its event stream (`data: {"error":...}`), as
// OpenAI-compatible providers do when they fail mid-generation. The client gets the
// content so far and an OpenAI-shaped error event, scrubbed, with our request id; and the
// gateway keeps running. The gateway runs as a child process here: the failure this
// guards against is an uncaught exception that would take the whole process down.

const dir = mkdtempSync(join(tmpdir(), 'tollgate-stream-error-'));
let gw: ServeProcess | undefined;
after(async () => {
  await gw?.proc.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test(
  'an error event inside the upstream stream reaches the client scrubbed, and the gateway survives it',
  async (t) => {
    const up = await startFakeOpenAI();
    t.after(() => up.close());
    gw = await startServeProcess(
      dir,
      `providers:
  - id: fake
    kind: openai
    base_url: ${up.baseUrl}
    api_key: ${UPSTREAM_SECRET}
models:
  - id: deepseek-v4-flash
    upstreams: [{ provider: fake, model: upstream-flash }]
    pricing: { input: "0.16", output: "0.30" }
`,
    );
    const { key } = await gw.customer();
    const nasty = `overloaded at ${up.baseUrl}/chat/completions (127.0.0.1:${up.port}) with key ${UPSTREAM_SECRET}`;
    const chunk = (content: string) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'upstream-flash', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
    up.behave({
      contentType: 'text/event-stream',
      rawBody: `${chunk('partial')}data: ${JSON.stringify({ error: { message: nasty, type: 'server_error', code: 'overloaded', request_id: 'upstream-req-1' } })}\n\n`,
    });
    const res = await post(`${gw.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] }, { key });
    assert.equal(res.status, 200);
    assertNoLeaks(res, [...upstreamSecrets(up), key]);
    const frames = res.text.split('\n\n').filter(Boolean).map((f) => JSON.parse(f.slice(6)));
    assert.equal(frames.length, 2, res.text);
    assert.equal(frames[0].choices[0].delta.content, 'partial');
    assert.equal(frames[0].model, 'deepseek-v4-flash');
    assert.equal(frames[1].error.code, 'upstream_error');
    assert.equal(frames[1].error.type, 'api_error');
    assert.equal(frames[1].error.request_id, res.headers.get('x-request-id'));
    assert.match(frames[1].error.message, /^overloaded at \[upstream\]/);

    // The same error as a named `event: error` (vLLM, proxies), its data a bare error
    // object: an error too, scrubbed, and the stream ends without [DONE]. Another named
    // event (`ping`) is not a chunk, and is not relayed as one.
    up.behave({
      contentType: 'text/event-stream',
      rawBody: `event: ping\ndata: {}\n\n${chunk('partial')}event: error\ndata: ${JSON.stringify({ message: nasty, type: 'server_error' })}\n\n`,
    });
    const named = await post(`${gw.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] }, { key });
    assertNoLeaks(named, [...upstreamSecrets(up), key]);
    const namedFrames = named.text.split('\n\n').filter(Boolean).map((f) => JSON.parse(f.slice(6)));
    assert.equal(namedFrames.length, 2, named.text);
    assert.equal(namedFrames[0].choices[0].delta.content, 'partial');
    assert.equal(namedFrames[1].error.code, 'upstream_error');
    assert.match(namedFrames[1].error.message, /^overloaded at \[upstream\]/);

    // The gateway is still up and serving.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(gw.proc.child.exitCode, null, `the gateway died: ${gw.proc.stderr()}`);
    up.behave({ text: 'still here' });
    const next = await post(`${gw.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }, { key });
    assert.equal(next.status, 200, next.text);
  },
);
