import { Kysely, PostgresDialect } from 'kysely';
import { Pool } from 'pg';
import type { Database } from './schema';

export interface CreateDatabaseOptions {
  /** PostgreSQL connection URL. */
  readonly url: string;
  /**
   * Connections in the pool.
   * @defaultValue 10
   */
  readonly poolMax?: number;
  /**
   * statement_timeout for every session, in ms.
   * @defaultValue 30000
   */
  readonly statementTimeoutMs?: number;
  /**
   * Shown in pg_stat_activity, e.g. the service name.
   * @defaultValue 'crm-engine'
   */
  readonly applicationName?: string;
}

/**
 * A Kysely instance over a pg pool. Destroy it (`await db.destroy()`) on shutdown.
 *
 * @example
 * const db = createDatabase({ url: config.database.url, applicationName: 'ingest' });
 */
export function createDatabase(options: CreateDatabaseOptions): Kysely<Database> {
  const { url, poolMax = 10, statementTimeoutMs = 30_000, applicationName = 'crm-engine' } = options;
  if (!url) throw new TypeError('createDatabase requires a url');
  const pool = new Pool({
    connectionString: url,
    max: poolMax,
    application_name: applicationName,
    statement_timeout: statementTimeoutMs,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener the
  // process would crash. The next query gets a fresh connection.
  pool.on('error', () => undefined);
  // A client checked out of the pool (a transaction between two statements, a held advisory
  // lock) that loses its connection (e.g. PostgreSQL restarting: 57P01) emits 'error' on itself,
  // where the pool's listener is not: without this one the process crashes. Its next query fails
  // instead (the caller's error path), and the pool discards it on release (no longer queryable).
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
}

const pools = new WeakMap<Kysely<Database>, Pool>();

/**
 * The pg pool behind a database made by {@link createDatabase}, for the few hot statements
 * that run as named prepared statements (parsed and planned once per connection, which Kysely
 * cannot do); `undefined` for a transaction or any other Kysely instance.
 */
export function poolOf(db: Kysely<Database>): Pool | undefined {
  return pools.get(db);
}
