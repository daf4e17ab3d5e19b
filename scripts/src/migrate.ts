/**
 * `npm run migrate` — applies pending migrations to DATABASE_URL.
 * `npm run migrate -- down` reverts the newest one.
 */
import { migrateDown, migrateToLatest } from '@crm/db';
import { maskUrl } from './local-services';
import { runScript, withScriptDatabase } from './script-database';

async function main(): Promise<number> {
  const direction = process.argv[2] === 'down' ? 'down' : 'up';
  return withScriptDatabase('migrate', async (db, url) => {
    const { error, results } = direction === 'down' ? await migrateDown(db) : await migrateToLatest(db);
    for (const result of results) process.stdout.write(`${result.direction.toLowerCase()} ${result.migrationName}: ${result.status}\n`);
    if (error) {
      process.stderr.write(`migration failed on ${maskUrl(url)}: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    if (results.length === 0) process.stdout.write(direction === 'up' ? 'schema is up to date\n' : 'nothing to revert\n');
    return 0;
  });
}

runScript('migrate', main);
