import type { FastifyPluginAsync } from 'fastify';
import type { IngestDeps } from '../app';

/** STUB (issue 8, being built): `POST /api/crm/preferences`, `GET /api/crm/preferences/:clientId`. */
export const preferencesRoutes: FastifyPluginAsync<IngestDeps> = async () => {};
