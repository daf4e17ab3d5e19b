import type { Kysely } from 'kysely';
import { ApiKeyRepository, type Database } from '@crm/db';

export interface TestApiKey {
  readonly id: string;
  readonly key: string;
  /** `{ authorization: 'Bearer <key>' }`, to spread into a request's headers. */
  readonly headers: { readonly authorization: string };
}

/**
 * An API key in the test database, for calling the HTTP API.
 *
 * @example
 * const { headers } = await createTestApiKey(t.db);
 * await app.inject({ method: 'GET', url: '/api/crm/communications', headers });
 */
export async function createTestApiKey(db: Kysely<Database>, name = 'test'): Promise<TestApiKey> {
  const { id, key } = await ApiKeyRepository.create(db, { name });
  return { id, key, headers: { authorization: `Bearer ${key}` } };
}
