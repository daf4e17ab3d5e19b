import { Migrator, NO_MIGRATIONS, type Kysely, type MigrationResult } from 'kysely';
import { migrations } from '@crm/migrations';

export interface MigrationOutcome {
  /** Set when a migration failed; the failed one is marked `Error` in `results`. */
  readonly error?: unknown;
  readonly results: readonly MigrationResult[];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the migrator works on any schema
function migratorFor(db: Kysely<any>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => ({ ...migrations }) } });
}

/**
 * Applies every pending migration (each run in one transaction; running it again is a no-op).
 * Like Kysely's own Migrator, never throws: check `error`.
 *
 * @example
 * const { error, results } = await migrateToLatest(db);
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationOutcome> {
  const { error, results = [] } = await migratorFor(db).migrateToLatest();
  return error === undefined ? { results } : { error, results };
}

/** Reverts the newest applied migration. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function migrateDown(db: Kysely<any>): Promise<MigrationOutcome> {
  const { error, results = [] } = await migratorFor(db).migrateDown();
  return error === undefined ? { results } : { error, results };
}

/** Reverts every applied migration. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function migrateToNone(db: Kysely<any>): Promise<MigrationOutcome> {
  const { error, results = [] } = await migratorFor(db).migrateTo(NO_MIGRATIONS);
  return error === undefined ? { results } : { error, results };
}

/** Names of migrations not yet applied (empty when the schema is current). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function pendingMigrations(db: Kysely<any>): Promise<string[]> {
  const all = await migratorFor(db).getMigrations();
  return all.filter((migration) => migration.executedAt === undefined).map((migration) => migration.name);
}
