import type { FastifyPluginAsync } from 'fastify';
import { sql } from 'kysely';
import type { IngestDeps } from '../app';
import { problemBody } from '../problem';

/** `GET /health` (the process answers) and `GET /ready` (PostgreSQL and Redis answer). No auth. */
export const healthRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) => {
    const checks = await Promise.all([
      sql`SELECT 1`.execute(deps.db).then(() => true, () => false),
      deps.redisPing().then(() => true, () => false),
    ]);
    const [postgres = false, redis = false] = checks;
    if (postgres && redis) return { status: 'ready', postgres, redis };
    const down = [!postgres && 'postgres', !redis && 'redis'].filter(Boolean).join(' and ');
    return reply.code(503).type('application/problem+json').send({ ...problemBody('not_ready', `${down} did not answer`), postgres, redis });
  });
};
