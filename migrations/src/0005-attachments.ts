import { sql, type Kysely } from 'kysely';

/**
 * Email attachments (issue 6, item 4):
 *
 * - `crm_attachments`: one uploaded file per row, its bytes in `content` (PostgreSQL, never
 *   Redis: jobs carry communication ids only). The type is one of PDF, PNG or JPEG, checked by
 *   ingest against the file's magic bytes before the row is written; the CHECK keeps any other
 *   writer to the same three. `size_bytes` and `sha256` are stored so that sizes can be summed
 *   without reading the files.
 * - `crm_communications.attachment_ids`: the files a communication sends, in order. An array of
 *   ids, not a foreign key: ingest checks that every id exists before it stores the row.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design (Kysely docs)
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('crm_attachments')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('filename', 'text', (col) => col.notNull())
    .addColumn('content_type', 'text', (col) => col.notNull().check(sql`content_type IN ('application/pdf', 'image/png', 'image/jpeg')`))
    .addColumn('size_bytes', 'integer', (col) => col.notNull().check(sql`size_bytes >= 0`))
    .addColumn('sha256', 'bytea', (col) => col.notNull().check(sql`octet_length(sha256) = 32`))
    .addColumn('content', 'bytea', (col) => col.notNull())
    .addColumn('created_at', sql`timestamptz(3)`, (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('crm_attachments_size_matches', sql`size_bytes = octet_length(content)`)
    .execute();
  // Files are read whole and sent as they are: no point compressing PDFs, PNGs or JPEGs again.
  await sql`ALTER TABLE crm_attachments ALTER COLUMN content SET STORAGE EXTERNAL`.execute(db);
  await db.schema
    .alterTable('crm_communications')
    .addColumn('attachment_ids', sql`uuid[]`, (col) => col.notNull().defaultTo(sql`'{}'`))
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('crm_communications').dropColumn('attachment_ids').execute();
  await db.schema.dropTable('crm_attachments').execute();
}
