import type { IncomingMessage, ServerResponse } from 'node:http';

// Browser clients (web chat UIs that take the user's key, the OpenAI SDK with
// dangerouslyAllowBrowser) call the API from their own origin, as OpenAI's API lets
// them: every answer under /v1 and /api/v1 allows any origin, and a preflight there is
// answered. A key travels as a bearer token, never a cookie, so a page can only use a key
// it already holds. The admin API takes no part: its token never belongs in a browser.

/** On API responses to a request with an Origin (a browser's): two more headers in its one writeHead. */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'access-control-allow-origin': '*',
  // The SDKs read x-request-id; x-tollgate-cost and the rate-limit headers are for them too.
  'access-control-expose-headers': '*',
};

const PREFLIGHT_MAX_AGE_S = '86400'; // browsers cap it lower (Chrome: 2 h)

/** Whether the URL is under the API's base paths (/v1, /api/v1), not the admin API's. */
export function isApiPath(url: string): boolean {
  return url.startsWith('/v1/') || url.startsWith('/api/v1/');
}

/** Answers a preflight for the API: any origin, the methods it serves, the headers asked for. */
export function answerPreflight(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  const asked = req.headers['access-control-request-headers'];
  res.writeHead(204, {
    ...CORS_HEADERS,
    'access-control-allow-methods': 'GET, POST, OPTIONS',
    ...(asked ? { 'access-control-allow-headers': asked } : {}),
    'access-control-max-age': PREFLIGHT_MAX_AGE_S,
    vary: 'access-control-request-headers',
  });
  res.end();
}
