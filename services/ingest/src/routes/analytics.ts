import type { FastifyPluginAsync } from 'fastify';
import type { IngestDeps } from '../app';

/** STUB (issue 9, being built): `GET /api/crm/analytics`, `…/export.csv`, `…/report.pdf`. */
export const analyticsRoutes: FastifyPluginAsync<IngestDeps> = async () => {};
