/**
 * `npm run migrate` — applies pending migrations to DATABASE_URL.
 * `npm run migrate -- down` reverts the newest one.
 */
import { ConfigError, loadDatabaseConfig } from '@crm/config';
import { createDatabase, migrateDown, migrateToLatest } from '@crm/db';
import { maskUrl } from './local-services';

async function main(): Promise<number> {
  let database;
  try {
    database = loadDatabaseConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 78;
    }
    throw error;
  }
  const direction = process.argv[2] === 'down' ? 'down' : 'up';
  const db = createDatabase({ url: database.url, poolMax: 1, applicationName: 'migrate' });
  try {
    const { error, results } = direction === 'down' ? await migrateDown(db) : await migrateToLatest(db);
    for (const result of results) process.stdout.write(`${result.direction.toLowerCase()} ${result.migrationName}: ${result.status}\n`);
    if (error) {
      process.stderr.write(`migration failed on ${maskUrl(database.url)}: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    if (results.length === 0) process.stdout.write(direction === 'up' ? 'schema is up to date\n' : 'nothing to revert\n');
    return 0;
  } finally {
    await db.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`migrate: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
