import type { ModelEntry, Route } from './catalog.ts';

// The order in which a request tries a model's routes: the highest priority tier first,
// spread by weight within a tier (weighted random order, so every route of the tier is
// a fallback for the others), then the lower tiers. Routes whose upstream's breaker is
// open are left out; the caller learns how long until one opens again.

export function routeOrder(model: ModelEntry, random: () => number = Math.random): readonly Route[] {
  // Most models have one route: no order to draw, nothing to allocate per request.
  if (model.routes.length === 1) return model.routes;
  const tiers = new Map<number, Route[]>();
  for (const r of model.routes) {
    const t = tiers.get(r.priority);
    if (t) t.push(r);
    else tiers.set(r.priority, [r]);
  }
  const out: Route[] = [];
  for (const priority of [...tiers.keys()].sort((a, b) => b - a)) {
    const pool = tiers.get(priority)!.slice();
    while (pool.length) {
      let total = 0;
      for (const r of pool) total += r.weight;
      let x = random() * total;
      let i = 0;
      for (; i < pool.length - 1; i++) {
        x -= pool[i]!.weight;
        if (x < 0) break;
      }
      out.push(pool.splice(i, 1)[0]!);
    }
  }
  return out;
}
