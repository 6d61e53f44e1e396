import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { defaultConfig, startTestGateway } from '../helpers/gateway.ts';
import { post } from '../helpers/http.ts';

// An operator who changes key_prefix (a new brand) must not lock every customer out: keys
// keep the prefix they were made with and go on working; new keys get the new one.

test('after key_prefix changes, keys made under the old prefix still work (until revoked); new keys take the new prefix', async (t) => {
  const up = await startFakeOpenAI();
  t.after(() => up.close());
  const chat = (url: string, key: string) => post(`${url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }, { key });

  // A store of the test's own: a test gateway removes its own directory when closed.
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-prefix-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const storage = `sqlite:${join(dir, 'tollgate.db')}`;
  const first = await startTestGateway({ config: { ...defaultConfig(up.baseUrl), storage } });
  const kept = await first.customer();
  const revoked = await first.customer();
  assert.match(kept.key, /^sk-tg-/);
  assert.equal((await first.admin('DELETE', `/keys/${revoked.keyId}`)).status, 200);
  await first.close();

  const second = await startTestGateway({ config: { ...defaultConfig(up.baseUrl), storage, key_prefix: 'tg-live-' } });
  t.after(() => second.close());
  assert.equal((await chat(second.url, kept.key)).status, 200, 'a key of the old prefix still works');
  const r = await chat(second.url, revoked.key);
  assert.equal(r.status, 401);
  assert.match(JSON.parse(r.text).error.message, /revoked|Malformed/);
  const fresh = await second.customer();
  assert.match(fresh.key, /^tg-live-/);
  assert.equal((await chat(second.url, fresh.key)).status, 200);
  // A key of some other prefix is still malformed, and the message names the current one.
  const other = await chat(second.url, `xx-${kept.key.slice(6)}`);
  assert.equal(other.status, 401);
  assert.match(JSON.parse(other.text).error.message, /start with "tg-live-"/);
  // Revoking the old key takes effect at once, as for any key.
  assert.equal((await second.admin('DELETE', `/keys/${kept.keyId}`)).status, 200);
  assert.equal((await chat(second.url, kept.key)).status, 401);
});
