import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

// CORS as a browser enforces it: a page on one origin (a port of its own) calls the
// gateway on another with a bearer key, as a web chat UI does. Chromium makes the
// preflight and refuses what the headers do not allow, which a fetch from Node never
// would. Needs Debian's Chromium (`apt-get install chromium`); .ci/run installs it.

const CHROMIUM = '/usr/bin/chromium';
const absent = !fs.existsSync(CHROMIUM);
if (absent) console.log(`# cors-browser: SKIPPED, ${CHROMIUM} is not installed (apt-get install chromium)`);

describe('a web page on another origin', { skip: absent ? `${CHROMIUM} is not installed` : false }, () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let page: Server;
  let pageUrl: string;
  let browser: Browser;
  let key: string;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ upstream: up.baseUrl });
    ({ key } = await tg.customer());
    page = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>chat</title>'));
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    pageUrl = `http://127.0.0.1:${(page.address() as AddressInfo).port}/`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  });
  after(async () => {
    await browser?.close();
    await new Promise<void>((r) => page.close(() => r()));
    await tg.close();
    await up.close();
  });

  /** Runs `fn` in a fresh page of the other origin, with the gateway's URL and a key. */
  const inPage = async <T>(fn: (a: { base: string; key: string; admin: string }) => Promise<T>): Promise<T> => {
    const p = await browser.newPage();
    try {
      await p.goto(pageUrl);
      return await p.evaluate(fn, { base: tg.url, key, admin: tg.adminToken });
    } finally {
      await p.close();
    }
  };

  test('calls the API with its key (preflighted), reads the answer and the gateway\'s headers', async () => {
    const got = await inPage(async ({ base, key }) => {
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        // x-stainless-* as the OpenAI SDK sends from a browser: they force the preflight.
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-stainless-os': 'Unknown' },
        body: JSON.stringify({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }),
      });
      const body = (await res.json()) as any;
      return { status: res.status, content: body.choices[0].message.content, requestId: res.headers.get('x-request-id'), cost: res.headers.get('x-tollgate-cost') };
    });
    assert.equal(got.status, 200);
    assert.equal(typeof got.content, 'string');
    assert.ok(got.content.length > 0);
    assert.match(got.requestId ?? '', /\S/, 'x-request-id is exposed to the page');
    assert.match(got.cost ?? '', /^\d+\.\d+$/, 'x-tollgate-cost is exposed to the page');
  });

  test('reads a stream as it comes, and an error body with its request id', async () => {
    const got = await inPage(async ({ base, key }) => {
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      });
      const text = await res.text();
      const bad = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-tg-wrong', 'content-type': 'application/json' }, body: '{}' });
      return { status: res.status, text, badStatus: bad.status, badBody: (await bad.json()) as any, badId: bad.headers.get('x-request-id') };
    });
    assert.equal(got.status, 200);
    assert.ok(got.text.trimEnd().endsWith('data: [DONE]'), got.text);
    assert.equal(got.badStatus, 401);
    assert.equal(got.badBody.error.code, 'invalid_api_key');
    assert.equal(got.badBody.error.request_id, got.badId);
  });

  test('cannot reach the admin API, even with the admin token', async () => {
    const got = await inPage(async ({ base, admin }) => {
      try {
        const res = await fetch(`${base}/admin/v1/accounts`, { headers: { authorization: `Bearer ${admin}` } });
        return { reached: true, status: res.status };
      } catch (err) {
        return { reached: false, error: String(err) };
      }
    });
    assert.equal(got.reached, false, JSON.stringify(got));
    assert.match(got.error ?? '', /TypeError|Failed to fetch/);
  });
});
