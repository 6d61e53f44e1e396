// A request target as a path: an absolute-form target (`POST http://host/v1/...`, which a
// server must accept, RFC 9112 §3.2.2) routes, and is checked, by its path, as the
// origin-form one does. Fastify's router already reads it so; every check made on the
// raw URL beside it must too, or the form is a way around the check.

const SLASH = 47;
const QUESTION = 63;
const HASH = 35;

/** The target in origin form: `/path?query`, the scheme and authority of an absolute form dropped. */
export function originForm(target: string): string {
  if (target.charCodeAt(0) === SLASH) return target;
  const scheme = target.indexOf('://');
  if (scheme === -1) return target;
  let k = scheme + 3;
  while (k < target.length) {
    const c = target.charCodeAt(k);
    if (c === SLASH || c === QUESTION || c === HASH) break;
    k++;
  }
  if (k === target.length) return '/';
  return target.charCodeAt(k) === SLASH ? target.slice(k) : `/${target.slice(k)}`;
}
