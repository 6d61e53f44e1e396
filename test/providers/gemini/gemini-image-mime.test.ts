import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeGemini, type FakeGemini } from '../../helpers/fake-gemini.ts';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.ts';

// "data:image/jpg;base64,..." is what many clients build from a .jpg file name, and
// OpenAI and Anthropic (through the gateway) take it. Gemini answers 400 "Unsupported MIME
// type: image/jpg": it knows only image/jpeg.

const JPEG_B64 = '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHR8eHR==';

describe('a JPEG named image/jpg reaches Gemini as image/jpeg', () => {
  let up: FakeGemini;
  let tg: TestGateway;
  let client: OpenAI;

  before(async () => {
    up = await startFakeGemini({ scenario: 'simple' });
    tg = await startTestGateway({
      config: {
        providers: [{ id: 'gemini', kind: 'gemini', base_url: up.baseUrl, api_key: 'gemini-upstream-key' }],
        models: [{ id: 'gemini-flash', upstreams: [{ provider: 'gemini', model: 'gemini-2.5-flash' }], pricing: { input: '0.3', output: '2.5' } }],
      },
    });
    client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: (await tg.customer()).key, maxRetries: 0 });
  });
  after(async () => {
    await tg?.close();
    await up?.close();
  });

  test('data URI and URL', async () => {
    const r = await client.chat.completions.create({
      model: 'gemini-flash',
      messages: [{ role: 'user', content: [
        { type: 'text', text: 'What is in these?' },
        { type: 'image_url', image_url: { url: `data:image/jpg;base64,${JPEG_B64}` } },
        { type: 'image_url', image_url: { url: 'https://example.com/photo.JPG' } },
      ] }],
    });
    assert.ok(r.choices[0]!.message.content);
    assert.deepEqual(up.requests.at(-1)!.body.contents[0].parts.slice(1), [
      { inlineData: { mimeType: 'image/jpeg', data: JPEG_B64 } },
      { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/photo.JPG' } },
    ]);
  });
});
