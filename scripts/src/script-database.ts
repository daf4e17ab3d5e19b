import type { Kysely } from 'kysely';
import { ConfigError, loadDatabaseConfig } from '@crm/config';
import { createDatabase, type Database } from '@crm/db';

/**
 * Runs `work` on a one-connection pool to DATABASE_URL (with DATABASE_STATEMENT_TIMEOUT_MS) and answers its exit code; a bad
 * environment prints every problem and answers 78 (EX_CONFIG) without connecting.
 */
export async function withScriptDatabase(
  applicationName: string,
  work: (db: Kysely<Database>, url: string) => Promise<number>,
): Promise<number> {
  let url: string;
  let statementTimeoutMs: number;
  try {
    ({ url, statementTimeoutMs } = loadDatabaseConfig());
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 78;
    }
    throw error;
  }
  // DATABASE_STATEMENT_TIMEOUT_MS applies here too: a long migration or rotation needs it raised.
  const db = createDatabase({ url, poolMax: 1, applicationName, statementTimeoutMs });
  try {
    return await work(db, url);
  } finally {
    await db.destroy();
  }
}

/** The end of a script's module: exits with `main`'s code, or 1 with the error's message. */
export function runScript(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
