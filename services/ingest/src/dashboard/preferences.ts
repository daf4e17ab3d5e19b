import type { FastifyPluginAsync } from 'fastify';
import type { IngestDeps } from '../app';

/** Stub: filled in by the dashboard work. */
export const preferencePages: FastifyPluginAsync<IngestDeps> = async () => {};
