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
