/**
 * The baseline of `npm run load`: a bare Fastify server (the framework ingest is built on) with
 * one POST route at ingest's path that parses the JSON body and answers 202, nothing else: no
 * auth, validation, database or queue. Started as a child process on `PORT` (127.0.0.1).
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { readEnvironment } from '@crm/config';

async function main(): Promise<void> {
  const app = Fastify({ logger: false, bodyLimit: 1_048_576 });
  app.post('/api/crm/communications', async (request, reply) => {
    const body = request.body as { clientId?: unknown } | null;
    return reply.code(202).send({ id: randomUUID(), status: typeof body?.clientId === 'string' ? 'pending' : 'unknown' });
  });
  await app.listen({ host: '127.0.0.1', port: Number(readEnvironment().PORT) });
  const stop = () => void app.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`bare server failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
