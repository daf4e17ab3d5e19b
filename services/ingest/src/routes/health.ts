import type { FastifyPluginAsync } from 'fastify';
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
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) => {
    const { ready, detail, ...checks } = await checkReadiness({ db: deps.db, redisPing: deps.redisPing });
    if (ready) return { status: 'ready', ...checks };
    return reply.code(503).type('application/problem+json').send({ ...problemBody('not_ready', detail ?? 'not ready'), ...checks });
  });
  app.get('/metrics', async (_request, reply) => reply.type(metricsRegistry.contentType).header('cache-control', 'no-store').send(await metricsRegistry.metrics()));
};
