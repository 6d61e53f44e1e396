// A thin client of the admin API for the CLI: the CLI never touches the store directly,
// so it works the same against a local or a remote gateway.

export interface AdminTarget {
  url: string;
  token: string;
}

export async function adminCall(t: AdminTarget, method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(adminUrl(t.url, path), {
      method,
      headers: { authorization: `Bearer ${t.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new Error(`cannot reach the gateway at ${t.url}: ${((err as Error).cause as Error)?.message ?? (err as Error).message}`);
  }
  // The gateway never answers with the admin token; whatever else answers at this URL may
  // echo it (a proxy's error page quoting the request), and the CLI prints what it gets.
  const raw = await res.text();
  const text = t.token ? raw.replaceAll(t.token, '[redacted]') : raw;
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${res.status} from the gateway: ${text.slice(0, 200)}`);
  }
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${json?.error?.message ?? text}`);
  return json;
}

/**
 * The admin endpoint under the gateway's URL, path included: behind a reverse proxy at
 * https://host/tollgate the API is https://host/tollgate/admin/v1. (`new URL('/admin/v1',
 * base)` dropped the path and sent the admin token to whatever answers at the host's root.)
 */
function adminUrl(base: string, path: string): URL {
  const url = new URL(base);
  const [route, query = ''] = path.split('?', 2);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/admin/v1${route}`;
  url.search = query;
  return url;
}
