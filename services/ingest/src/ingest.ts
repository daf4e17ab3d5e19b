import type { FastifyInstance } from 'fastify';
import { buildApp, type IngestDeps } from './app';

export interface IngestServer {
  readonly app: FastifyInstance;
  /** `http://host:port` it listens on. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Builds the API and listens on `host:port` (port 0: any free port).
 *
 * @example
 * const server = await startIngest(deps, { host: '127.0.0.1', port: 3000 });
 */
export async function startIngest(deps: IngestDeps, listen: { host: string; port: number }): Promise<IngestServer> {
  const app = await buildApp(deps);
  await app.listen({ host: listen.host, port: listen.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : listen.port;
  return { app, url: `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}`, close: () => app.close() };
}
