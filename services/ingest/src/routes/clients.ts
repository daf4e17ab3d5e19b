import type { FastifyPluginAsync } from 'fastify';
import type { IngestDeps } from '../app';

/** STUB (issue 8, being built): `DELETE /api/crm/clients/:clientId` (GDPR erase), `GET /api/crm/clients/:clientId/export`. */
export const clientRoutes: FastifyPluginAsync<IngestDeps> = async () => {};
