import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FakeGemini } from '../../helpers/fake-gemini.ts';
import { geminiGateway, type TranslatedGateway } from '../../helpers/translated-gateway.ts';

// "data:image/jpg;base64,..." is what many clients build from a .jpg file name, and
// OpenAI and Anthropic (through the gateway) take it. Gemini answers 400 "Unsupported MIME
// type: image/jpg": it knows only image/jpeg.

const JPEG_B64 = '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHR8eHR==';

describe('a JPEG named image/jpg reaches Gemini as image/jpeg', () => {
  let g: TranslatedGateway<FakeGemini>;
  before(async () => {
    g = await geminiGateway();
  });
  after(() => g?.close());

  test('data URI and URL', async () => {
    const r = await g.client.chat.completions.create({
      model: 'gemini-flash',
      messages: [{ role: 'user', content: [
        { type: 'text', text: 'What is in these?' },
        { type: 'image_url', image_url: { url: `data:image/jpg;base64,${JPEG_B64}` } },
        { type: 'image_url', image_url: { url: 'https://example.com/photo.JPG' } },
      ] }],
    });
    assert.ok(r.choices[0]!.message.content);
    assert.deepEqual(g.up.requests.at(-1)!.body.contents[0].parts.slice(1), [
      { inlineData: { mimeType: 'image/jpeg', data: JPEG_B64 } },
      { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/photo.JPG' } },
    ]);
  });
});
