import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { attachmentContentTypes, detectFileType, type AttachmentContentType } from '@crm/core';
import type { Executor } from './communication-repository';

/** A file to store. */
export interface NewAttachment {
  /** The name it is sent under; ingest checks it (1–200 characters, no slashes or control characters). */
  readonly filename: string;
  readonly contentType: AttachmentContentType;
  readonly content: Buffer;
}

/** A stored file, without its bytes. */
export interface SavedAttachment {
  readonly id: string;
  readonly filename: string;
  readonly contentType: AttachmentContentType;
  /** In bytes. */
  readonly size: number;
  /** SHA-256 of the content, lower-case hex. */
  readonly sha256: string;
}

/** What ingest needs to check a request's attachments: no bytes. */
export interface AttachmentSize {
  readonly size: number;
  readonly contentType: AttachmentContentType;
  readonly filename: string;
}

/** A stored file with its bytes, ready to attach to an email. */
export interface LoadedAttachment {
  readonly id: string;
  readonly filename: string;
  readonly contentType: AttachmentContentType;
  readonly content: Buffer;
}

/** {@link loadAttachments} was asked for ids that are not stored. */
export class MissingAttachmentError extends Error {
  readonly code = 'CRM_MISSING_ATTACHMENT';
  readonly ids: readonly string[];
  constructor(ids: readonly string[]) {
    super(`attachments not found: ${ids.join(', ')}`);
    this.name = 'MissingAttachmentError';
    this.ids = ids;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The distinct ids that can be stored ones (anything else cannot match, and would make PostgreSQL refuse the cast). */
const lookupIds = (ids: readonly string[]) => [...new Set(ids.filter((id) => UUID.test(id)).map((id) => id.toLowerCase()))];

/**
 * Stores a file and returns its id with its size and SHA-256. The content must be of the type
 * it claims, by its magic bytes (ingest answers a mismatch with 415 before calling this; here it
 * is a `TypeError`, so that no other caller can store a file under a false type).
 *
 * @example
 * const saved = await saveAttachment(db, { filename: 'budget.pdf', contentType: 'application/pdf', content });
 * // { id: '…', filename: 'budget.pdf', contentType: 'application/pdf', size: 48213, sha256: '9f86…' }
 */
export async function saveAttachment(db: Executor, input: NewAttachment): Promise<SavedAttachment> {
  if (!(attachmentContentTypes as readonly string[]).includes(input.contentType)) {
    throw new TypeError(`saveAttachment: content type ${input.contentType} is not one of ${attachmentContentTypes.join(', ')}`);
  }
  const detected = detectFileType(input.content);
  if (detected !== input.contentType) {
    throw new TypeError(`saveAttachment: the content is ${detected ?? 'of no accepted type'}, not ${input.contentType}`);
  }
  const sha256 = createHash('sha256').update(input.content).digest();
  const row = await db
    .insertInto('crm_attachments')
    .values({ filename: input.filename, content_type: input.contentType, size_bytes: input.content.length, sha256, content: input.content })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, filename: input.filename, contentType: input.contentType, size: input.content.length, sha256: sha256.toString('hex') };
}

/**
 * Size, type and name of each stored file among `ids`, in one query that reads no content;
 * ids not stored (or not UUIDs) are simply absent from the map.
 *
 * @example
 * const sizes = await findAttachmentSizes(db, request.attachments);
 * const unknown = request.attachments.findIndex((id) => !sizes.has(id));
 */
export async function findAttachmentSizes(db: Executor, ids: readonly string[]): Promise<Map<string, AttachmentSize>> {
  const wanted = lookupIds(ids);
  if (wanted.length === 0) return new Map();
  const rows = await db
    .selectFrom('crm_attachments')
    .select(['id', 'size_bytes', 'content_type', 'filename'])
    .where('id', '=', sql<string>`ANY(${wanted}::uuid[])`)
    .execute();
  const byId = new Map(rows.map((row) => [row.id, { size: row.size_bytes, contentType: row.content_type, filename: row.filename }]));
  // Keyed by the ids as given, whatever their letter case.
  return new Map(ids.flatMap((id) => {
    const found = byId.get(id.toLowerCase());
    return found ? [[id, found] as const] : [];
  }));
}

/**
 * The files `ids` with their bytes, in the order of `ids` (an id given twice comes back twice),
 * read with one query. Throws {@link MissingAttachmentError} naming every id not stored.
 *
 * @example
 * const files = await loadAttachments(db, communication.attachment_ids);
 * await transport.send({ …, attachments: files });
 */
export async function loadAttachments(db: Executor, ids: readonly string[]): Promise<LoadedAttachment[]> {
  if (ids.length === 0) return [];
  const wanted = lookupIds(ids);
  const rows = wanted.length === 0 ? [] : await db
    .selectFrom('crm_attachments')
    .select(['id', 'filename', 'content_type', 'content'])
    .where('id', '=', sql<string>`ANY(${wanted}::uuid[])`)
    .execute();
  const byId = new Map(rows.map((row) => [row.id, row]));
  const missing = [...new Set(ids.filter((id) => !byId.has(id.toLowerCase())))];
  if (missing.length > 0) throw new MissingAttachmentError(missing);
  return ids.map((id) => {
    const row = byId.get(id.toLowerCase())!;
    return { id: row.id, filename: row.filename, contentType: row.content_type, content: row.content };
  });
}

/**
 * A PostgreSQL array literal of `ids` (`{"…","…"}`), for passing one list per row through
 * `unnest(…::text[])`, which cannot take an array of arrays of different lengths; cast it back
 * with `::uuid[]` in SQL. Each element is quoted, so no value can break out of it.
 *
 * @internal used by the multi-row inserts of communications
 * @example uuidArrayLiteral(['6f1c…', '0b9a…']) // '{"6f1c…","0b9a…"}'
 */
export function uuidArrayLiteral(ids: readonly string[] | undefined): string {
  return `{${(ids ?? []).map((id) => `"${id.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
}
