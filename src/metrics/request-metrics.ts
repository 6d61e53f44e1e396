import { picoToUsd } from '../billing/money.ts';

// What every finished request adds to /metrics: counts, tokens, cost and latency, kept in
// plain counters and written out in Prometheus' text format only when scraped. prom-client
// metrics would hash a label object on every observation (several per request, on the
// hot path); here a request costs a few Map lookups and additions (~0.1 µs).
//
// Labels take only values the operator configured (model and provider ids) or a small
// fixed set (endpoint, status, stream): a client's unknown model is counted as model="",
// so no client can grow the series without bound.

/** Seconds; an LLM answer ranges from milliseconds (a cached short one) to minutes. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export interface FinishedRequest {
  endpoint: string;
  /** A configured model id, or null for a model the catalog does not have. */
  model: string | null;
  provider: string | null;
  status: number;
  stream: boolean;
  failover: boolean;
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  /** Picodollars charged, or null when nothing was. */
  cost: bigint | null;
  latencyMs: number;
  ttfbMs: number | null;
}

interface Counts {
  labels: string;
  requests: number;
  failovers: number;
  prompt: number;
  cached: number;
  completion: number;
  cost: bigint;
}

class Histogram {
  readonly labels: string;
  readonly counts = new Array<number>(BUCKETS.length).fill(0);
  count = 0;
  sum = 0;
  constructor(labels: string) {
    this.labels = labels;
  }
  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= BUCKETS[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

export class RequestMetrics {
  // Nested by label rather than keyed by a joined string: the ids are the same string
  // objects request after request, whose hashes V8 keeps, so no key is built. In a loop,
  // observe() took 0.7 µs with a joined key and 0.07-0.16 µs nested.
  readonly #counts = new Map<string, Map<string, Map<string, Map<number, Counts>>>>();
  readonly #latency = new Map<string, Map<string, [Histogram, Histogram][]>>();

  observe(r: FinishedRequest): void {
    const model = r.model ?? '';
    const provider = r.provider ?? '';
    const byStatus = child(child(child(this.#counts, r.endpoint, newMap), model, newMap), provider, newMap);
    let c = byStatus.get(r.status);
    if (!c) {
      c = { labels: labelText({ endpoint: r.endpoint, model, provider, status: String(r.status) }), requests: 0, failovers: 0, prompt: 0, cached: 0, completion: 0, cost: 0n };
      byStatus.set(r.status, c);
    }
    c.requests++;
    if (r.failover) c.failovers++;
    c.prompt += r.promptTokens;
    c.cached += r.cachedTokens;
    c.completion += r.completionTokens;
    if (r.cost !== null && r.cost !== 0n) c.cost += r.cost;

    if (r.status !== 200) return; // latency of answers only: refusals would drown it
    const pair = child(child(this.#latency, r.endpoint, newMap), model, () => []);
    const s = r.stream ? 1 : 0;
    let h = pair[s];
    if (!h) {
      const labels = labelText({ endpoint: r.endpoint, model, stream: r.stream ? 'true' : 'false' });
      h = pair[s] = [new Histogram(labels), new Histogram(labels)];
    }
    h[0].observe(r.latencyMs / 1000);
    if (r.ttfbMs !== null) h[1].observe(r.ttfbMs / 1000);
  }

  /** The metrics in Prometheus' text exposition format (version 0.0.4). */
  text(): string {
    const counts: Counts[] = [];
    for (const byModel of this.#counts.values()) for (const byProvider of byModel.values()) for (const byStatus of byProvider.values()) counts.push(...byStatus.values());
    const out: string[] = [];
    const counter = (name: string, help: string, value: (c: Counts) => string) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const c of counts) out.push(`${name}{${c.labels}} ${value(c)}`);
    };
    counter('tollgate_requests_total', 'Data-plane requests finished, by endpoint, model, provider and HTTP status.', (c) => String(c.requests));
    counter('tollgate_failovers_total', 'Requests answered by another route than their first choice.', (c) => String(c.failovers));
    counter('tollgate_prompt_tokens_total', 'Prompt tokens billed (cached ones included).', (c) => String(c.prompt));
    counter('tollgate_cached_prompt_tokens_total', 'Prompt tokens read from the provider\'s cache.', (c) => String(c.cached));
    counter('tollgate_completion_tokens_total', 'Completion tokens billed (reasoning included).', (c) => String(c.completion));
    counter('tollgate_charged_usd_total', 'USD charged to customers (the ledger is exact; this is for dashboards).', (c) => picoToUsd(c.cost));
    const hists: [Histogram, Histogram][] = [];
    for (const byModel of this.#latency.values()) for (const pair of byModel.values()) for (const h of pair) if (h) hists.push(h);
    histogram(out, 'tollgate_request_duration_seconds', 'Time from a request\'s arrival to its last byte, for answered requests.', hists.map((h) => h[0]));
    histogram(out, 'tollgate_time_to_first_byte_seconds', 'Time from a request\'s arrival to the first byte of its answer.', hists.map((h) => h[1]));
    return out.join('\n') + '\n';
  }
}

function histogram(out: string[], name: string, help: string, hists: Histogram[]): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
  for (const h of hists) {
    let cumulative = 0;
    for (let i = 0; i < BUCKETS.length; i++) {
      cumulative += h.counts[i]!;
      out.push(`${name}_bucket{${h.labels},le="${BUCKETS[i]}"} ${cumulative}`);
    }
    out.push(`${name}_bucket{${h.labels},le="+Inf"} ${h.count}`, `${name}_sum{${h.labels}} ${h.sum}`, `${name}_count{${h.labels}} ${h.count}`);
  }
}

/** What `m` holds under `key`, made on first use. */
function child<K, V>(m: Map<K, V>, key: K, make: () => NoInfer<V>): V {
  let c = m.get(key);
  if (c === undefined) m.set(key, (c = make()));
  return c;
}

const newMap = () => new Map();

/** `a="x",b="y"`, values escaped as the text format requires. */
export function labelText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}
