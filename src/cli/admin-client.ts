// A thin client of the admin API for the CLI: the CLI never touches the store directly,
// so it works the same against a local or a remote gateway.

export interface AdminTarget {
  url: string;
  token: string;
}

export async function adminCall(t: AdminTarget, method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(new URL(`/admin/v1${path}`, t.url), {
      method,
      headers: { authorization: `Bearer ${t.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new Error(`cannot reach the gateway at ${t.url}: ${((err as Error).cause as Error)?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${res.status} from the gateway: ${text.slice(0, 200)}`);
  }
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${json?.error?.message ?? text}`);
  return json;
}
