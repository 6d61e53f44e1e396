import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { onFakeOpenAI, type TestGateway } from '../helpers/gateway.ts';
import type { FakeOpenAI } from '../helpers/fake-openai.ts';
import { expectError, post } from '../helpers/http.ts';

// A body nested thousands of levels deep is valid JSON that JSON.parse takes, but the
// gateway's own walks over it (token counting, validation, the edits made for the
// upstream) overflowed the stack: every such request was a 500 internal_error, logged as
// an unexpected error. It is a 400 now, before anything is counted or reserved; nesting
// any real request needs stays well within the limit.

const MAX_DEPTH = 256;
const arrays = (n: number) => '['.repeat(n) + '1' + ']'.repeat(n);
const objects = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
const HI = '"messages":[{"role":"user","content":"hi"}]';

describe('deeply nested request bodies', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  onFakeOpenAI((s) => ({ up, tg, key } = s));

  const deep = 10_000;
  for (const [name, path, body] of [
    ['message content', '/v1/chat/completions', `{"model":"deepseek-v4-flash","messages":[{"role":"user","content":${arrays(deep)}}]}`],
    ['tool parameters', '/v1/chat/completions', `{"model":"deepseek-v4-flash",${HI},"tools":[{"type":"function","function":{"name":"f","parameters":${objects(deep)}}}]}`],
    ['a json_schema', '/v1/chat/completions', `{"model":"deepseek-v4-flash",${HI},"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":${objects(deep)}}}}`],
    ['stream_options', '/v1/chat/completions', `{"model":"deepseek-v4-flash",${HI},"stream":true,"stream_options":${objects(deep)}}`],
    ['max_tokens', '/v1/chat/completions', `{"model":"deepseek-v4-flash",${HI},"max_tokens":${arrays(deep)}}`],
    ['embeddings input', '/v1/embeddings', `{"model":"embed-small","input":${arrays(deep)}}`],
  ] as const) {
    test(`${deep} levels in ${name}: 400 invalid_request, and the upstream is not called`, async () => {
      const before = up.requests.length;
      const res = await post(`${tg.url}${path}`, body, { key });
      expectError(res, { status: 400, type: 'invalid_request_error', code: 'invalid_request', param: null, message: new RegExp(`more than ${MAX_DEPTH} levels`) });
      assert.equal(up.requests.length, before);
    });
  }

  test(`${MAX_DEPTH} levels pass through to the upstream as sent; one more is refused`, async () => {
    // The body's own object is the first level, so metadata holds the other 255.
    const at = (n: number) => `{"model":"deepseek-v4-flash",${HI},"metadata":${objects(n)}}`;
    const ok = await post(`${tg.url}/v1/chat/completions`, at(MAX_DEPTH - 1), { key });
    assert.equal(ok.status, 200, ok.text);
    assert.ok(up.requests.at(-1)!.text.includes(objects(MAX_DEPTH - 1)));
    const over = await post(`${tg.url}/v1/chat/completions`, at(MAX_DEPTH), { key });
    assert.equal(over.status, 400, over.text);
  });
});
