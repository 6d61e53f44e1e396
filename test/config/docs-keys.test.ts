import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema } from '../../src/config/schema.ts';

// Every key the config schema accepts is documented in the two places an operator looks:
// tollgate.example.yaml ("documents every key") and README's configuration reference.

const ROOT = join(import.meta.dirname, '..', '..');

interface Def { type: string; shape?: Record<string, { def: Def }>; innerType?: { def: Def }; element?: { def: Def } }

/** Dotted paths of every key in the schema (`providers[].breaker.failures`), walking through defaults, optionals and arrays. */
function keyPaths(def: Def, prefix = ''): string[] {
  if (def.type === 'default' || def.type === 'optional' || def.type === 'nullable' || def.type === 'prefault') return keyPaths(def.innerType!.def, prefix);
  if (def.type === 'array') return keyPaths(def.element!.def, `${prefix}[]`);
  if (def.type !== 'object') return [];
  return Object.entries(def.shape!).flatMap(([k, v]) => {
    const path = prefix ? `${prefix}.${k}` : k;
    const inner = keyPaths(v.def, path);
    return inner.length > 0 ? inner : [path];
  });
}

const paths = keyPaths((configSchema as unknown as { def: Def }).def);
const leaf = (p: string) => p.split('.').pop()!;

test('the schema walk finds the keys (a zod upgrade that changes its internals fails here, not silently)', () => {
  for (const p of ['listen.port', 'request_log.retention_days', 'providers[].breaker.cooldown_ms', 'models[].upstreams[].priority', 'models[].pricing.cache_write', 'plans[].daily_tokens']) {
    assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
  }
});

test('tollgate.example.yaml shows every config key (set or commented out)', () => {
  const yaml = readFileSync(join(ROOT, 'tollgate.example.yaml'), 'utf8');
  const missing = paths.filter((p) => !new RegExp(`^[\\s#-]*(?:\\{ )?${leaf(p)}:|[{,] ${leaf(p)}:`, 'm').test(yaml));
  assert.deepEqual(missing, []);
});

test("README's configuration reference names every config key", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Configuration reference');
  assert.ok(start >= 0, 'README has a Configuration reference');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const missing = paths.filter((p) => !section.includes(`\`${leaf(p)}\``) && !section.includes(`\`${p.replace(/\[\]/g, '')}\``) && !section.includes(`.${leaf(p)}\``));
  assert.deepEqual(missing, []);
});
