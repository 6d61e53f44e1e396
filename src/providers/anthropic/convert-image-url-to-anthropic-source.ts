import { UnsupportedFieldError } from '../unsupported.ts';

// OpenAI `image_url.url` → Anthropic image source.
// Public URL: {type:'url', url}; data URI: {type:'base64', media_type, data}.
// https://docs.anthropic.com/en/docs/build-with-claude/vision

const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

export interface DataUri {
  mediaType: string;
  data: string;
}

/** Parses `data:<type>;base64,<data>`; null when the text is not a base64 data URI. */
export function parseDataUri(url: string): DataUri | null {
  const m = /^data:([^;,]+)((?:;[^;,]+)*);base64,(.*)$/s.exec(url);
  if (!m) return null;
  return { mediaType: m[1]!.toLowerCase(), data: m[3]! };
}

/** The image type the first bytes of base64 `data` announce, among the four Anthropic takes. */
function sniffImageType(data: string): string | undefined {
  const head = Buffer.from(data.slice(0, 16), 'base64');
  if (head[0] === 0x89 && head.toString('latin1', 1, 4) === 'PNG') return 'image/png';
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (head.toString('latin1', 0, 4) === 'GIF8') return 'image/gif';
  if (head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  return undefined;
}

export function convertImageUrlToAnthropicSource(url: unknown, param: string): Record<string, string> {
  if (typeof url !== 'string' || !url) throw new UnsupportedFieldError(param, `${param} must be a URL or a base64 data URI.`);
  if (url.startsWith('data:')) {
    const d = parseDataUri(url);
    if (!d) throw new UnsupportedFieldError(param, `${param}: only base64 data URIs are supported.`);
    // Anthropic checks the bytes against media_type ("Image does not match the provided
    // media type image/png") where OpenAI looks at the bytes; clients often label a JPEG
    // image/png. What the bytes say wins.
    const mediaType = sniffImageType(d.data) ?? (d.mediaType === 'image/jpg' ? 'image/jpeg' : d.mediaType);
    if (!IMAGE_TYPES.has(mediaType)) {
      throw new UnsupportedFieldError(param, `${param}: Anthropic accepts image/jpeg, image/png, image/gif and image/webp, not ${d.mediaType}.`);
    }
    return { type: 'base64', media_type: mediaType, data: d.data };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'url', url };
  throw new UnsupportedFieldError(param, `${param} must be an http(s) URL or a base64 data URI.`);
}
