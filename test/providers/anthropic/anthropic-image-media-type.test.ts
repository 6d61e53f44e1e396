import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FakeAnthropic } from '../../helpers/fake-anthropic.ts';
import { anthropicGateway, type TranslatedGateway } from '../../helpers/translated-gateway.ts';

// OpenAI reads an image's bytes; Anthropic checks them against the declared media_type and
// answers 400 "Image does not match the provided media type image/png". Clients label
// data URIs carelessly (a JPEG screenshot as image/png), so what the bytes say wins.

const JPEG_B64 = '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHR8eHR==';
const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const GIF_B64 = 'R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==';
const WEBP_B64 = 'UklGRiQAAABXRUJQVlA4IBgAAAAwAQCdASoBAAEAAwA0JaQAA3AA/vuUAAA=';

describe('a base64 image reaches Anthropic with the media type its bytes have', () => {
  let g: TranslatedGateway<FakeAnthropic>;
  before(async () => {
    g = await anthropicGateway();
  });
  after(() => g?.close());

  test('mislabelled JPEG, GIF and WebP are sent as what they are; a correct label is kept', async () => {
    const image = (url: string) => ({ type: 'image_url' as const, image_url: { url } });
    await g.client.chat.completions.create({
      model: 'claude',
      messages: [{ role: 'user', content: [
        { type: 'text', text: 'Describe these.' },
        image(`data:image/png;base64,${JPEG_B64}`),
        image(`data:image/jpeg;base64,${GIF_B64}`),
        image(`data:application/octet-stream;base64,${WEBP_B64}`),
        image(`data:image/png;base64,${PNG_B64}`),
      ] }],
    });
    const sources = g.up.requests.at(-1)!.body.messages[0].content.slice(1).map((b: any) => b.source.media_type);
    assert.deepEqual(sources, ['image/jpeg', 'image/gif', 'image/webp', 'image/png']);
  });
});
