import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { Kysely } from 'kysely';
import { createDatabase, migrateToLatest, type Database } from '@crm/db';
import { testEnvironment } from './test-environment';

export interface TestDatabase {
  /** Name of the database made for this test file. */
  readonly name: string;
  /** Connection URL of that database. */
  readonly url: string;
  readonly db: Kysely<Database>;
  /** Closes the pool and drops the database. */
  destroy(): Promise<void>;
}

export interface TestDatabaseOptions {
  /**
   * Run the migrations before returning.
   * @defaultValue true
   */
  readonly migrate?: boolean;
}

/**
 * A fresh database on the real PostgreSQL of `DATABASE_URL` (one per test file, so files run in
 * parallel), migrated to the latest schema. Call `destroy()` in `afterAll`.
 *
 * @example
 * let t: TestDatabase;
 * beforeAll(async () => { t = await createTestDatabase(); });
 * afterAll(() => t.destroy());
 */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const baseUrl = testEnvironment().DATABASE_URL;
  const name = `crm_test_${randomBytes(6).toString('hex')}`;
  await admin(baseUrl, `CREATE DATABASE ${name} TEMPLATE template0`);
  const url = withDatabase(baseUrl, name);
  const db = createDatabase({ url, poolMax: 5, applicationName: 'crm-test' });
  if (options.migrate !== false) {
    const { error } = await migrateToLatest(db);
    if (error) {
      await db.destroy();
      await admin(baseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      throw error;
    }
  }
  return {
    name,
    url,
    db,
    async destroy() {
      await db.destroy();
      await admin(baseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** `url` pointing at database `name`. */
export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

async function admin(url: string, statement: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Keys for tests that encrypt contact details (never production keys). */
export const testPiiKeys = Object.freeze({ encryptionKey: 'e'.repeat(32), blindIndexKey: 'b'.repeat(32) });

/**
 * A database of the test file's own: made before its first test, dropped after its last (with
 * the jest hooks of the file that calls it). The handle reads through to that database, so
 * tests write `t.db` as they would with {@link createTestDatabase}.
 *
 * @example
 * const t = testDatabasePerFile();
 * it('stores', async () => { await t.db.insertInto('crm_api_keys')… });
 */
export function testDatabasePerFile(options: TestDatabaseOptions = {}): TestDatabase {
  // Jest's hooks are globals of the test file; read them when called, so that importing this
  // package outside jest costs nothing.
  type Hook = (fn: () => Promise<void>) => void;
  const { beforeAll, afterAll } = globalThis as unknown as { beforeAll: Hook; afterAll: Hook };
  let current: TestDatabase | undefined;
  beforeAll(async () => {
    current = await createTestDatabase(options);
  });
  afterAll(async () => {
    await current?.destroy();
  });
  const database = (): TestDatabase => {
    if (!current) throw new Error('the test database exists inside tests only (after beforeAll)');
    return current;
  };
  return {
    get name() { return database().name; },
    get url() { return database().url; },
    get db() { return database().db; },
    destroy: () => database().destroy(),
  };
}
