// Fastify answers a known path asked with the wrong method exactly as it answers an
// unknown path: 404. Someone who pastes the chat URL into a browser, or a client set to
// GET it, is better told that the path exists and which methods it takes (405, Allow),
// as OpenAI and most HTTP servers do.

/** The path of a URL as the router matches it: no query string, one trailing slash ignored. */
function routePath(url: string): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** A Fastify route pattern (`/accounts/:id/keys`, `/models/*`) as an anchored RegExp. */
function patternRegExp(pattern: string): RegExp {
  let source = '';
  for (const segment of routePath(pattern).split('/').slice(1)) {
    if (segment === '*') source += '/.*';
    else if (segment.startsWith(':')) source += '/[^/]+';
    else source += '/' + segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source || '/'}$`);
}

export class RouteMethods {
  readonly #routes: { pattern: RegExp; method: string }[] = [];

  add(pattern: string, methods: string | readonly string[]): void {
    const regExp = patternRegExp(pattern);
    for (const method of typeof methods === 'string' ? [methods] : methods) this.#routes.push({ pattern: regExp, method });
  }

  /** The methods some route takes at this URL's path, in a fixed order; empty when no route has the path. */
  allowed(url: string): string[] {
    const path = routePath(url);
    const methods = new Set<string>();
    for (const route of this.#routes) if (route.pattern.test(path)) methods.add(route.method);
    return [...methods].sort();
  }
}
