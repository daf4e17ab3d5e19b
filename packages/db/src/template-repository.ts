import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { MessageChannel, StoredMessageType } from '@crm/core';
import type { Executor } from './communication-repository';
import type { Database } from './schema';

/** A template as stored: one row per published version of (type, channel, language). */
export interface TemplateVersion {
  readonly id: string;
  readonly messageType: StoredMessageType;
  readonly channel: MessageChannel;
  readonly language: string;
  readonly version: number;
  readonly subject: string | null;
  /** MJML for email. */
  readonly body: string;
  readonly textBody: string | null;
  readonly requiredVariables: readonly string[];
  readonly contentHash: string | null;
  readonly publishedAt: Date | null;
}

export interface TemplateDraft {
  readonly messageType: StoredMessageType;
  readonly channel: MessageChannel;
  readonly language: string;
  readonly subject: string | null;
  readonly body: string;
  readonly textBody: string | null;
  readonly requiredVariables: readonly string[];
}

/** SHA-256 of what a render depends on. */
export function templateContentHash(draft: Pick<TemplateDraft, 'subject' | 'body' | 'textBody' | 'requiredVariables'>): string {
  return createHash('sha256').update(JSON.stringify([draft.subject, draft.body, draft.textBody, [...draft.requiredVariables].sort()])).digest('hex');
}

const columns = ['id', 'message_type', 'channel', 'language', 'version', 'subject', 'body', 'text_body', 'required_variables', 'content_hash', 'published_at'] as const;
type TemplateRow = { id: string; message_type: StoredMessageType; channel: MessageChannel; language: string; version: number; subject: string | null; body: string; text_body: string | null; required_variables: string[]; content_hash: string | null; published_at: Date | null };
const toVersion = (row: TemplateRow): TemplateVersion => ({
  id: row.id, messageType: row.message_type, channel: row.channel, language: row.language, version: row.version,
  subject: row.subject, body: row.body, textBody: row.text_body, requiredVariables: row.required_variables,
  contentHash: row.content_hash, publishedAt: row.published_at,
});

/** The newest published version of (type, channel, language), or `undefined`. */
export async function currentTemplate(db: Executor, key: { readonly messageType: StoredMessageType; readonly channel: MessageChannel; readonly language: string }): Promise<TemplateVersion | undefined> {
  const row = await db
    .selectFrom('crm_communication_templates')
    .select(columns)
    .where('message_type', '=', key.messageType)
    .where('channel', '=', key.channel)
    .where('language', '=', key.language)
    .where('published_at', 'is not', null)
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? toVersion(row as TemplateRow) : undefined;
}

/** One version by id (what a communication recorded). */
export async function templateById(db: Executor, id: string): Promise<TemplateVersion | undefined> {
  const row = await db.selectFrom('crm_communication_templates').select(columns).where('id', '=', id).executeTakeFirst();
  return row ? toVersion(row as TemplateRow) : undefined;
}

/**
 * Publishes `draft` as the next version of its (type, channel, language), unless the newest
 * version already has the same content (`unchanged`, so seeding from files on every start is
 * idempotent). Safe when two processes publish at once: the unique version constraint makes the
 * loser retry with the next number.
 */
export async function publishTemplate(db: Kysely<Database>, draft: TemplateDraft): Promise<{ readonly template: TemplateVersion; readonly published: boolean }> {
  const hash = templateContentHash(draft);
  for (let round = 0; round < 5; round++) {
    const latest = await currentTemplate(db, draft);
    if (latest && latest.contentHash === hash) return { template: latest, published: false };
    const inserted = await sql<TemplateRow>`
      INSERT INTO crm_communication_templates (message_type, channel, language, version, subject, body, text_body, required_variables, content_hash, published_at)
      VALUES (${draft.messageType}::crm_message_type, ${draft.channel}::crm_channel, ${draft.language}, ${(latest?.version ?? 0) + 1},
              ${draft.subject}, ${draft.body}, ${draft.textBody}, ${[...draft.requiredVariables]}::text[], ${hash}, now())
      ON CONFLICT ON CONSTRAINT crm_communication_templates_version_uq DO NOTHING
      RETURNING ${sql.join(columns.map((c) => sql.ref(c)))}`.execute(db);
    const row = inserted.rows[0];
    if (row) return { template: toVersion(row), published: true };
  }
  throw new Error(`publishTemplate: could not publish ${draft.messageType}/${draft.channel}/${draft.language} after 5 rounds`);
}
