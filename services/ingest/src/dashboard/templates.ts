import type { FastifyPluginAsync } from 'fastify';
import type { IngestDeps } from '../app';

/** Stub: filled in by the dashboard work. */
export const templatePages: FastifyPluginAsync<IngestDeps> = async () => {};
