import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { requireAdmin } from '../admin/auth.ts';
import { hashAdminToken } from '../auth/api-keys.ts';
import type { Runtime } from '../gateway/runtime.ts';

// GET /metrics for Prometheus: the process (CPU, memory, event-loop delay, GC, from
// prom-client's defaults), the gateway's state at scrape time (requests in flight, open
// reservations, breakers, the journal's backlog), and what finished requests added up to
// (request-metrics.ts). It takes the admin token or, so that a scraper need not hold
// that, the read-only `metrics_token`.

export function registerMetricsRoute(app: FastifyInstance, rt: Runtime): void {
  const registry = new Registry();
  // prom-client's process metrics watch every GC and time the event loop all along:
  // started by the first scrape, so a gateway nobody scrapes pays nothing for them.
  let processMetrics = false;
  const gauge = (name: string, help: string, collect: (g: Gauge) => void, labelNames: string[] = []) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        collect(this);
      },
    });
  gauge('tollgate_requests_in_flight', 'Data-plane requests being served.', (g) => g.set(rt.inFlight));
  gauge('tollgate_reservations_open', 'Balance reservations held by requests in flight.', (g) => g.set(rt.billing.openReservations));
  gauge('tollgate_journal_pending', 'Request records and billing writes not yet in the store (queued or being committed).', (g) => g.set(rt.journal.waiting));
  new Counter({
    name: 'tollgate_journal_failed_commits_total',
    help: 'Commits of the journal to the store that failed (each is retried; the log says why).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(rt.journal.failedCommits);
    },
  });
  gauge(
    'tollgate_upstream_available',
    'Whether an upstream\'s circuit breaker lets requests through (1) or has paused it (0).',
    (g) => {
      for (const u of rt.catalog.upstreams.values()) g.set({ provider: u.id }, u.breaker.state() === 'open' ? 0 : 1);
    },
    ['provider'],
  );
  const metricsTokenHash = rt.config.metrics_token ? hashAdminToken(rt.config.metrics_token) : null;

  app.get('/metrics', async (request, reply) => {
    requireAdmin(rt, request, metricsTokenHash);
    if (!processMetrics) {
      processMetrics = true;
      collectDefaultMetrics({ register: registry });
    }
    const text = (await registry.metrics()) + rt.metrics.text();
    return reply.header('content-type', registry.contentType).send(text);
  });
}
