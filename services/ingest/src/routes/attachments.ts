import type { FastifyPluginAsync } from 'fastify';
import type { IngestDeps } from '../app';

/** `POST /api/crm/attachments` (issue 6): being written. */
export const attachmentRoutes: FastifyPluginAsync<IngestDeps> = async () => {};
