import type { FastifyPluginAsync } from 'fastify';
import type { IngestDeps } from '../app';

/** `/t/o/:token`, `/t/c/:token`, `/u/:token` (issue 6): being written. */
export const trackingRoutes: FastifyPluginAsync<IngestDeps> = async () => {};
