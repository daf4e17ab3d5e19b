/**
 * `npm run openapi`: writes docs/openapi.json, the OpenAPI document of the ingest API, from the
 * app itself (its routes' zod schemas). It needs no database and no Redis: the app is built on
 * connections that are never opened. A test checks that the file is up to date.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '@crm/ingest';
import { createDatabase } from '@crm/db';
import { createLogger } from '@crm/observability';
import { createRedisConnection, QueueProducer } from '@crm/queue';
import { runScript } from './script-database';

/** Where the document is written, from the repository root. */
export const OPENAPI_PATH = join('docs', 'openapi.json');

/** `value` with the keys of every object sorted, so that the same document always prints the same. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]));
}

/** The decorator @fastify/swagger adds to the app (its type augmentation is not in @crm/ingest's declarations). */
interface Documented {
  swagger(): object;
}

/**
 * `app`'s OpenAPI document as docs/openapi.json holds it: keys sorted at every level, two-space
 * indentation, a final newline. Readies the app.
 *
 * @example
 * const text = await openApiJson(app);
 */
export async function openApiJson(app: FastifyInstance): Promise<string> {
  await app.ready();
  return `${JSON.stringify(sortKeys((app as FastifyInstance & Documented).swagger()), null, 2)}\n`;
}

/** Builds the app on connections it never opens, and writes its document. */
async function main(): Promise<number> {
  // Nothing connects: the pool connects on a first query and the Redis connection is lazy.
  const db = createDatabase({ url: 'postgres://openapi@127.0.0.1:1/never-connected', poolMax: 1, applicationName: 'openapi' });
  const connection = createRedisConnection({ url: 'redis://127.0.0.1:1', role: 'producer' });
  const producer = new QueueProducer({ connection, prefix: 'openapi' });
  const app = await buildApp({
    db,
    producer,
    keys: { encryptionKey: 'openapi-unused-key-0123456789abcdef', blindIndexKey: 'openapi-unused-key-0123456789abcdef' },
    logger: createLogger({ service: 'openapi', level: 'silent' }),
    redisPing: () => Promise.reject(new Error('not connected')),
    bodyLimitBytes: 65_536,
  });
  try {
    const file = join(__dirname, '..', '..', OPENAPI_PATH);
    const text = await openApiJson(app);
    writeFileSync(file, text);
    const paths = Object.keys((JSON.parse(text) as { paths: object }).paths).length;
    process.stdout.write(`wrote ${OPENAPI_PATH} (${paths} paths)\n`);
    return 0;
  } finally {
    await app.close();
    await producer.close();
    connection.disconnect();
    await db.destroy();
  }
}

if (require.main === module) runScript('openapi', main);
