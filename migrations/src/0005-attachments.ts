import type { Kysely } from 'kysely';

/** Attachments (issue 6): being written. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design (Kysely docs)
export async function up(_db: Kysely<any>): Promise<void> {}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(_db: Kysely<any>): Promise<void> {}
