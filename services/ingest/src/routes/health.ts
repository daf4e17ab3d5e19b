import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { metricsRegistry } from '@crm/observability';
import { checkReadiness } from '@crm/runtime';
import type { IngestDeps } from '../app';
import { problemBody } from '../problem';

/**
 * `GET /health` (the process answers), `GET /ready` (PostgreSQL and Redis answer and every
 * migration is applied: @crm/runtime's `checkReadiness`, as the workers' ops servers answer it)
 * and `GET /metrics` (the process's Prometheus metrics, text format). No auth: bind or firewall
 * them in production.
 */
export const healthRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  app.get('/health', { schema: { summary: 'Liveness: the process answers', description: 'Always `{"status":"ok"}` while the process runs; checks nothing else.' } }, async () => ({ status: 'ok' }));
  const readiness = {
    summary: 'Readiness: PostgreSQL and Redis answer and every migration is applied',
    description: '200 `{"status":"ready", …checks}`; else 503 `not_ready` (a problem, with the same checks) naming what is missing.',
  };
  app.get('/ready', { schema: readiness }, async (_request, reply) => {
    const { ready, detail, ...checks } = await checkReadiness({ db: deps.db, redisPing: deps.redisPing });
    if (ready) return { status: 'ready', ...checks };
    return reply.code(503).type('application/problem+json').send({ ...problemBody('not_ready', detail ?? 'not ready'), ...checks });
  });
  const metrics = {
    summary: "The process's Prometheus metrics",
    response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.unknown() } } } },
  };
  app.get('/metrics', { schema: metrics }, async (_request, reply) => reply.type(metricsRegistry.contentType).header('cache-control', 'no-store').send(await metricsRegistry.metrics()));
};
