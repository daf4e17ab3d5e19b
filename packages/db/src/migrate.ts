import { Migrator, NO_MIGRATIONS, sql, type Kysely, type MigrationResult } from 'kysely';
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

/** Whether the schema has every migration this code knows; `pending` names the missing ones. */
export interface MigrationState {
  readonly current: boolean;
  readonly pending: readonly string[];
}

/**
 * Compares the migrations applied to this database (Kysely's `kysely_migration` table, on the
 * connection's search path) with the list in `migrations/`, in one read-only query: for
 * readiness checks (`/ready`). A schema never migrated has every migration pending. Rejects only
 * when the database does not answer.
 *
 * @example
 * const { current, pending } = await migrationState(db);
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function migrationState(db: Kysely<any>): Promise<MigrationState> {
  const known = Object.keys(migrations).sort();
  let applied: Set<string>;
  try {
    const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(db);
    applied = new Set(rows.map((row) => row.name));
  } catch (error) {
    // 42P01: undefined_table (never migrated); anything else (no connection) is not an answer.
    if ((error as { code?: string } | null)?.code !== '42P01') throw error;
    applied = new Set();
  }
  const pending = known.filter((name) => !applied.has(name));
  return { current: pending.length === 0, pending };
}
