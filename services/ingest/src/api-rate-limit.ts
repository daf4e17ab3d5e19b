import type { FastifyInstance } from 'fastify';
import type { IngestDeps } from './app';

/** STUB (issue 8, being built): per-API-key rate limit on /api routes (@fastify/rate-limit, Redis store) → 429 + Retry-After. */
export async function registerApiRateLimit(app: FastifyInstance, deps: IngestDeps): Promise<void> {
  void app;
  void deps;
}
