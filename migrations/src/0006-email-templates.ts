import { sql, type Kysely } from 'kysely';

/**
 * The email channel (issue 6):
 *
 * - `crm_communication_templates.required_variables` and `content_hash`: a template version
 *   knows which variables a render needs, and seeding from the repository's files publishes a
 *   new version only when a file's content changed (the hash of subject, MJML and text).
 * - `crm_client_preferences.email_suppressed_at` / `email_suppression_reason`: an address that
 *   bounced (SMTP 5xx) is not used again for email until it changes.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design (Kysely docs)
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('crm_communication_templates')
    .addColumn('required_variables', sql`text[]`, (col) => col.notNull().defaultTo(sql`'{}'`))
    .addColumn('content_hash', 'text')
    .execute();
  await db.schema
    .alterTable('crm_client_preferences')
    .addColumn('email_suppressed_at', sql`timestamptz(3)`)
    .addColumn('email_suppression_reason', 'text')
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('crm_client_preferences').dropColumn('email_suppressed_at').dropColumn('email_suppression_reason').execute();
  await db.schema.alterTable('crm_communication_templates').dropColumn('required_variables').dropColumn('content_hash').execute();
}
