import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { CommunicationStatus, ErrorCategory, JsonObject, MessageChannel, StoredMessageType, UrgencyLevel } from '@crm/core';
import { decryptPiiSql, type PiiKeys } from './pii-crypto';
import type { CommunicationRow, Database, DeliveryLogEvent, DeliveryLogRow } from './schema';

/**
 * GDPR erasure and export of one client (issue 8).
 *
 * What erasure does, table by table (every column that can hold the client's personal data):
 *
 * | table | what goes | what stays (anonymous counts) |
 * |---|---|---|
 * | `crm_client_preferences` | the row: email, phone (encrypted and hashed), time zone, quiet hours, opt-outs, language, suppression | nothing |
 * | `crm_communications` | `client_id` and `plan_id` become an anonymous id (`erased:<uuid>`, one per erasure; the plan id names the client's plan in the planning system), `variables`, `metadata`, `last_error`, `failure_reason`, `strategy_reason`, `idempotency_key`, `request_hash` and `attachment_ids` are cleared | id, type, urgency, status and its timestamps, channels, attempts, error codes and categories, template version, provider message id |
 * | `crm_delivery_logs` of those | `error_message` (an SMTP answer echoes the address) and `detail` | event, statuses, channel, attempt, provider and its ids, error code and category, latency, time |
 * | `crm_inbound_messages` | every row of the client (by `client_id`, or answering one of its communications), and the rows from its phone number that no client was matched to (same `from_hash`) | nothing |
 * | `crm_digests` | `client_id` becomes the anonymous id; an open digest is closed (its items are cancelled) | counts and times |
 * | `crm_attachments` | the files the client's communications carry that no other client's communication carries | nothing |
 * | `crm_audit_log` | nothing: a `client.erased` row is added (who asked, counts; no personal data) | earlier audit rows (who exported the client's data, and when) |
 *
 * Communications that have not left the engine (`pending`, `scheduled`, `queued`, `sending`)
 * are cancelled with a `cancelled` log row (`detail: {reason: 'erased'}`), even `sending` ones,
 * which the state machine does not otherwise allow: the worker that holds one may be talking
 * to the provider, but its `sent`/`failed` write is guarded by status and attempt, so it finds
 * the row cancelled and changes nothing; the message may still reach the client. Messages
 * already with a provider (`sent` and later) keep their status.
 */

/** Statuses an erasure cancels: the message has not been handed to a provider (a `sending` one may be mid-call). */
export const erasureCancelledStatuses: readonly CommunicationStatus[] = Object.freeze(['pending', 'scheduled', 'queued', 'sending']);
/** The `failure_reason` of a communication cancelled by an erasure, and its log row's `detail.reason`. */
export const ERASED_REASON = 'erased';
/** Anonymous ids start with this: `erased:<uuid>`. */
export const ERASED_ID_PREFIX = 'erased:';

export interface EraseClientOptions {
  /** Who asked (the API key's id, an operator), for the audit log. */
  readonly actor: string | null;
}

/** What the jobs of one erased communication are named after (see `jobIdFor` in @crm/queue). */
export interface ErasedCommunicationJobs {
  readonly id: string;
  readonly attemptCount: number;
  /** A postponed message's wake-up time: its `crm.requests` wake-up job carries it. */
  readonly scheduledFor: Date | null;
}

/** What {@link eraseClient} did. */
export interface ClientErasure {
  readonly clientId: string;
  /**
   * The id the kept rows (communications, digests) carry now, `erased:<uuid>`. Not stored next
   * to the client id anywhere (not in the audit row either), so the rows cannot be linked back.
   */
  readonly anonymousId: string;
  /** The preferences row (contact details) was deleted. */
  readonly preferences: boolean;
  /** Communications anonymised. */
  readonly communications: number;
  /** Of those, the ones cancelled. */
  readonly cancelled: number;
  /** Inbound messages deleted. */
  readonly inboundMessages: number;
  /** Stored files deleted. */
  readonly attachments: number;
  /** Digests anonymised. */
  readonly digests: number;
  /** The cancelled communications: their waiting jobs should go. */
  readonly cancelledIds: readonly string[];
  /** Every anonymised communication, for removing its jobs (a `crm.messaging` job carries the client id). */
  readonly jobs: readonly ErasedCommunicationJobs[];
  /** The client's digests: a `crm.digest` job (`digest.<id>`) carries the client id. */
  readonly digestIds: readonly string[];
  /** The deleted inbound messages: their `client.replied` events (`inbound.<id>.replied`) should go. */
  readonly inboundIds: readonly string[];
}

/** Deadlocks are retried this many times in all (another writer locked the same rows in another order). */
const ERASE_TRIES = 3;
const isRetryable = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
};

/**
 * Erases everything the engine holds about `clientId` that could identify them, in ONE
 * transaction (see the table at the top of this file), and writes a `client.erased` audit row
 * naming the client, the actor and the counts. The client's rows are locked first (preferences,
 * then digests, then communications in id order, the order the pipeline locks them in), so a
 * worker's claim or a status write waits and then finds the row cancelled or anonymised.
 * Answers `undefined`, writing nothing, when nothing is held about the client (never known,
 * or erased already). Jobs in Redis are the caller's: remove them after this commits, with the
 * ids answered.
 *
 * A request for the same client id after the erasure starts afresh (a new client).
 *
 * @example
 * const erased = await eraseClient(db, 'client-42', { actor: request.apiKey.id });
 * if (!erased) // 404
 */
export async function eraseClient(db: Kysely<Database>, clientId: string, options: EraseClientOptions): Promise<ClientErasure | undefined> {
  for (let tries = 1; ; tries++) {
    try {
      return await db.transaction().execute((trx) => erase(trx, clientId, options));
    } catch (error) {
      if (tries >= ERASE_TRIES || !isRetryable(error)) throw error;
    }
  }
}

async function erase(trx: Transaction<Database>, clientId: string, options: EraseClientOptions): Promise<ClientErasure | undefined> {
  const preferences = await trx
    .selectFrom('crm_client_preferences')
    .select(['client_id', 'phone_hash'])
    .where('client_id', '=', clientId)
    .forUpdate()
    .executeTakeFirst();
  const digests = await trx.selectFrom('crm_digests').select(['id']).where('client_id', '=', clientId).orderBy('id').forUpdate().execute();
  const communications = await trx
    .selectFrom('crm_communications')
    .select(['id', 'status', 'channel', 'attempt_count', 'scheduled_for', 'attachment_ids'])
    .where('client_id', '=', clientId)
    .orderBy('id')
    .forUpdate()
    .execute();
  const ids = communications.map((row) => row.id);

  const inbound = await trx
    .deleteFrom('crm_inbound_messages')
    .where((eb) =>
      eb.or([
        eb('client_id', '=', clientId),
        ...(ids.length > 0 ? [eb('communication_id', '=', sql<string>`ANY(${ids}::uuid[])`)] : []),
        // From the client's number, matched to no client (a stranger's message then, or a STOP).
        ...(preferences?.phone_hash ? [eb.and([eb('from_hash', '=', preferences.phone_hash), eb('client_id', 'is', null)])] : []),
      ]),
    )
    .returning('id')
    .execute();

  if (!preferences && digests.length === 0 && communications.length === 0 && inbound.length === 0) return undefined;

  const anonymousId = `${ERASED_ID_PREFIX}${randomUUID()}`;

  // Files only this client's messages carry (before client_id changes below).
  const attachmentIds = [...new Set(communications.flatMap((row) => row.attachment_ids))];
  let attachments = 0;
  if (attachmentIds.length > 0) {
    const { rows } = await sql<{ id: string }>`
      WITH shared AS (
        SELECT DISTINCT unnest(attachment_ids) AS id FROM crm_communications
        WHERE client_id <> ${clientId} AND attachment_ids && ${attachmentIds}::uuid[]
      )
      DELETE FROM crm_attachments a
      WHERE a.id = ANY(${attachmentIds}::uuid[]) AND a.id NOT IN (SELECT id FROM shared)
      RETURNING a.id`.execute(trx);
    attachments = rows.length;
  }

  const toCancel = communications.filter((row) => erasureCancelledStatuses.includes(row.status));
  const cancelledIds = toCancel.map((row) => row.id);
  if (ids.length > 0) {
    if (cancelledIds.length > 0) {
      await trx
        .updateTable('crm_communications')
        .set({ status: 'cancelled', cancelled_at: sql`now()`, next_attempt_at: null, awaiting_fallback: false })
        .where('id', '=', sql<string>`ANY(${cancelledIds}::uuid[])`)
        .execute();
    }
    // Clear the log first: the cancelled rows' own log rows (added next) keep their reason.
    await trx
      .updateTable('crm_delivery_logs')
      .set({ error_message: null, detail: '{}' })
      .where('communication_id', '=', sql<string>`ANY(${ids}::uuid[])`)
      .where((eb) => eb.or([eb('error_message', 'is not', null), eb('detail', '<>', sql<JsonObject>`'{}'::jsonb`)]))
      .execute();
    if (toCancel.length > 0) {
      await trx
        .insertInto('crm_delivery_logs')
        .values(
          toCancel.map((row) => ({
            communication_id: row.id,
            event: 'cancelled' as DeliveryLogEvent,
            from_status: row.status,
            to_status: 'cancelled' as const,
            channel: row.channel,
            attempt: row.attempt_count > 0 ? row.attempt_count : null,
            detail: JSON.stringify({ reason: ERASED_REASON }),
          })),
        )
        .execute();
    }
    await trx
      .updateTable('crm_communications')
      .set({
        client_id: anonymousId,
        plan_id: anonymousId,
        variables: '{}',
        metadata: '{}',
        last_error: null,
        failure_reason: cancelledIds.length > 0 ? sql<string | null>`CASE WHEN id = ANY(${cancelledIds}::uuid[]) THEN ${ERASED_REASON} END` : null,
        strategy_reason: null,
        idempotency_key: null,
        request_hash: null,
        attachment_ids: [],
        updated_at: sql`now()`,
      })
      .where('id', '=', sql<string>`ANY(${ids}::uuid[])`)
      .execute();
  }

  if (digests.length > 0) {
    // An open digest closes: its items were cancelled above, so nothing is left to flush.
    await trx
      .updateTable('crm_digests')
      .set({
        client_id: anonymousId,
        status: 'flushed',
        flushed_at: sql`CASE WHEN status = 'open' THEN now() ELSE flushed_at END`,
      })
      .where('id', '=', sql<string>`ANY(${digests.map((row) => row.id)}::uuid[])`)
      .execute();
  }

  if (preferences) await trx.deleteFrom('crm_client_preferences').where('client_id', '=', clientId).execute();

  const result: ClientErasure = {
    clientId,
    anonymousId,
    preferences: preferences !== undefined,
    communications: communications.length,
    cancelled: cancelledIds.length,
    inboundMessages: inbound.length,
    attachments,
    digests: digests.length,
    cancelledIds,
    jobs: communications.map((row) => ({ id: row.id, attemptCount: row.attempt_count, scheduledFor: row.scheduled_for })),
    digestIds: digests.map((row) => row.id),
    inboundIds: inbound.map((row) => row.id),
  };
  await trx
    .insertInto('crm_audit_log')
    .values({
      action: 'client.erased',
      client_id: clientId,
      actor: options.actor,
      detail: JSON.stringify({
        preferences: result.preferences,
        communications: result.communications,
        cancelled: result.cancelled,
        inbound: result.inboundMessages,
        attachments: result.attachments,
        digests: result.digests,
      }),
    })
    .execute();
  return result;
}

// --- Export ---------------------------------------------------------------------------------

/** The client's preferences and contact details, decrypted. */
export interface ExportedPreferences {
  readonly channels: MessageChannel[] | null;
  readonly timezone: string | null;
  readonly quietHours: { readonly start: string; readonly end: string } | null;
  readonly optOuts: MessageChannel[];
  readonly language: string;
  readonly batching: boolean;
  readonly email: string | null;
  readonly phone: string | null;
  readonly emailSuppressedAt: string | null;
  readonly emailSuppressionReason: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** One delivery-log row as the API shows it (camelCase, ISO times). */
export interface ExportedDeliveryLogEntry {
  readonly id: string;
  readonly event: DeliveryLogEvent;
  readonly fromStatus: CommunicationStatus | null;
  readonly toStatus: CommunicationStatus | null;
  readonly channel: MessageChannel | null;
  readonly attempt: number | null;
  readonly provider: string | null;
  readonly providerMessageId: string | null;
  readonly providerEventId: string | null;
  readonly errorCode: string | null;
  readonly errorCategory: ErrorCategory | null;
  readonly errorMessage: string | null;
  readonly latencyMs: number | null;
  readonly detail: JsonObject;
  readonly createdAt: string;
}

/** One communication with its delivery log, oldest entry first. */
export interface ExportedCommunication {
  readonly id: string;
  readonly planId: string;
  readonly messageType: StoredMessageType;
  readonly urgency: UrgencyLevel;
  readonly status: CommunicationStatus;
  readonly requestedChannel: MessageChannel | null;
  readonly channel: MessageChannel | null;
  readonly channelsTried: MessageChannel[];
  readonly channelPlan: MessageChannel[];
  readonly attemptCount: number;
  readonly templateId: string | null;
  readonly templateVersion: number | null;
  readonly variables: JsonObject;
  readonly metadata: JsonObject;
  readonly sendAt: string | null;
  readonly scheduledFor: string | null;
  readonly idempotencyKey: string | null;
  readonly providerMessageId: string | null;
  readonly digestId: string | null;
  readonly copyOf: string | null;
  readonly attachmentIds: string[];
  readonly lastError: string | null;
  readonly lastErrorCode: string | null;
  readonly lastErrorCategory: ErrorCategory | null;
  readonly failureReason: string | null;
  readonly strategyReason: string | null;
  /** Every status stamp (`sentAt`, `deliveredAt`, …), `null` where the communication never was. */
  readonly timestamps: Readonly<Record<string, string | null>>;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly deliveryLog: ExportedDeliveryLogEntry[];
}

/** One inbound SMS or WhatsApp message, its text decrypted. */
export interface ExportedInboundMessage {
  readonly id: string;
  readonly provider: 'twilio' | 'whatsapp';
  readonly providerMessageId: string;
  readonly channel: 'sms' | 'whatsapp';
  readonly communicationId: string | null;
  readonly kind: 'opt_out' | 'opt_in' | 'help' | 'reply';
  readonly keyword: string | null;
  readonly selection: number | null;
  readonly replyId: string | null;
  readonly text: string | null;
  readonly receivedAt: string;
  readonly createdAt: string;
}

export interface ExportedDigest {
  readonly id: string;
  readonly status: 'open' | 'flushed';
  readonly itemCount: number;
  readonly openedAt: string;
  readonly flushAt: string;
  readonly flushedAt: string | null;
  readonly communicationId: string | null;
}

/** A stored file's metadata (not its content). */
export interface ExportedAttachment {
  readonly id: string;
  readonly filename: string;
  readonly contentType: string;
  readonly sizeBytes: number;
  /** Lower-case hex. */
  readonly sha256: string;
  readonly createdAt: string;
}

/** Everything the engine holds about a client, as plain JSON. */
export interface ClientExport {
  readonly clientId: string;
  readonly exportedAt: string;
  readonly preferences: ExportedPreferences | null;
  readonly communications: ExportedCommunication[];
  readonly inboundMessages: ExportedInboundMessage[];
  readonly digests: ExportedDigest[];
  readonly attachments: ExportedAttachment[];
}

export interface ExportClientOptions {
  /** Who asked, for the audit log. @defaultValue null */
  readonly actor?: string | null;
}

const iso = (date: Date | string): string => new Date(date).toISOString();
const isoOrNull = (date: Date | string | null): string | null => (date === null ? null : iso(date));

const stampColumns = [
  'scheduled_at', 'queued_at', 'sending_at', 'sent_at', 'delivered_at', 'opened_at', 'clicked_at', 'responded_at', 'failed_at', 'cancelled_at', 'bounced_at',
] as const satisfies readonly (keyof CommunicationRow)[];
const camel = (column: string): string => column.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());

/** A delivery-log row as the API shows it: the export here, and ingest's communication detail. */
export function deliveryLogJson(row: DeliveryLogRow): ExportedDeliveryLogEntry {
  return {
    id: String(row.id),
    event: row.event,
    fromStatus: row.from_status,
    toStatus: row.to_status,
    channel: row.channel,
    attempt: row.attempt,
    provider: row.provider,
    providerMessageId: row.provider_message_id,
    providerEventId: row.provider_event_id,
    errorCode: row.error_code,
    errorCategory: row.error_category,
    errorMessage: row.error_message,
    latencyMs: row.latency_ms,
    detail: row.detail,
    createdAt: iso(row.created_at),
  };
}

function exportedCommunication(row: CommunicationRow, log: readonly DeliveryLogRow[]): ExportedCommunication {
  return {
    id: row.id,
    planId: row.plan_id,
    messageType: row.message_type,
    urgency: row.urgency,
    status: row.status,
    requestedChannel: row.requested_channel,
    channel: row.channel,
    channelsTried: row.channels_tried,
    channelPlan: row.channel_plan,
    attemptCount: row.attempt_count,
    templateId: row.template_id,
    templateVersion: row.template_version,
    variables: row.variables,
    metadata: row.metadata,
    sendAt: isoOrNull(row.send_at),
    scheduledFor: isoOrNull(row.scheduled_for),
    idempotencyKey: row.idempotency_key,
    providerMessageId: row.provider_message_id,
    digestId: row.digest_id,
    copyOf: row.copy_of,
    attachmentIds: row.attachment_ids,
    lastError: row.last_error,
    lastErrorCode: row.last_error_code,
    lastErrorCategory: row.last_error_category,
    failureReason: row.failure_reason,
    strategyReason: row.strategy_reason,
    timestamps: Object.fromEntries(stampColumns.map((column) => [camel(column), isoOrNull(row[column])])),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    deliveryLog: log.map(deliveryLogJson),
  };
}

/**
 * Everything the engine holds about `clientId`, as one JSON-able object (GDPR access and
 * portability): preferences with the decrypted email and phone, every communication with its
 * delivery log, inbound messages with their decrypted text (the same ones erasure deletes),
 * digests, and the metadata of the files its communications carry (not their content).
 * Read in one REPEATABLE READ transaction (one consistent snapshot), which also writes a
 * `client.exported` audit row (the actor and the counts). `undefined`, writing nothing, for a
 * client the engine holds nothing about.
 *
 * @example
 * const data = await exportClient(db, keys, 'client-42', { actor: request.apiKey.id });
 */
export async function exportClient(db: Kysely<Database>, keys: PiiKeys, clientId: string, options: ExportClientOptions = {}): Promise<ClientExport | undefined> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const preferences = await trx
        .selectFrom('crm_client_preferences')
        .select([
          'channels', 'timezone', 'quiet_hours_start', 'quiet_hours_end', 'opt_outs', 'language', 'batching', 'phone_hash',
          'email_suppressed_at', 'email_suppression_reason', 'created_at', 'updated_at',
          decryptPiiSql('email_encrypted', 'email_key_id', keys).as('email'),
          decryptPiiSql('phone_encrypted', 'phone_key_id', keys).as('phone'),
        ])
        .where('client_id', '=', clientId)
        .executeTakeFirst();
      const communications = await trx
        .selectFrom('crm_communications')
        .selectAll()
        .where('client_id', '=', clientId)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      const ids = communications.map((row) => row.id);
      const logs = ids.length === 0 ? [] : await trx
        .selectFrom('crm_delivery_logs')
        .selectAll()
        .where('communication_id', '=', sql<string>`ANY(${ids}::uuid[])`)
        .orderBy('id')
        .execute();
      const inbound = await trx
        .selectFrom('crm_inbound_messages')
        .select([
          'id', 'provider', 'provider_message_id', 'channel', 'communication_id', 'kind', 'keyword', 'selection', 'reply_id', 'received_at', 'created_at',
          decryptPiiSql('body_encrypted', 'body_key_id', keys).as('text'),
        ])
        .where((eb) =>
          eb.or([
            eb('client_id', '=', clientId),
            ...(ids.length > 0 ? [eb('communication_id', '=', sql<string>`ANY(${ids}::uuid[])`)] : []),
            ...(preferences?.phone_hash ? [eb.and([eb('from_hash', '=', preferences.phone_hash), eb('client_id', 'is', null)])] : []),
          ]),
        )
        .orderBy('received_at')
        .orderBy('id')
        .execute();
      const digests = await trx.selectFrom('crm_digests').selectAll().where('client_id', '=', clientId).orderBy('opened_at').orderBy('id').execute();
      const attachmentIds = [...new Set(communications.flatMap((row) => row.attachment_ids))];
      const attachments = attachmentIds.length === 0 ? [] : await trx
        .selectFrom('crm_attachments')
        .select(['id', 'filename', 'content_type', 'size_bytes', 'sha256', 'created_at'])
        .where('id', '=', sql<string>`ANY(${attachmentIds}::uuid[])`)
        .orderBy('created_at')
        .orderBy('id')
        .execute();

      if (!preferences && communications.length === 0 && inbound.length === 0 && digests.length === 0) return undefined;

      const logsOf = new Map<string, DeliveryLogRow[]>();
      for (const log of logs) {
        const list = logsOf.get(log.communication_id);
        if (list) list.push(log);
        else logsOf.set(log.communication_id, [log]);
      }
      const exported: ClientExport = {
        clientId,
        exportedAt: new Date().toISOString(),
        preferences: preferences
          ? {
              channels: preferences.channels,
              timezone: preferences.timezone,
              quietHours: preferences.quiet_hours_start !== null && preferences.quiet_hours_end !== null
                ? { start: preferences.quiet_hours_start, end: preferences.quiet_hours_end }
                : null,
              optOuts: preferences.opt_outs,
              language: preferences.language,
              batching: preferences.batching,
              email: preferences.email,
              phone: preferences.phone,
              emailSuppressedAt: isoOrNull(preferences.email_suppressed_at),
              emailSuppressionReason: preferences.email_suppression_reason,
              createdAt: iso(preferences.created_at),
              updatedAt: iso(preferences.updated_at),
            }
          : null,
        communications: communications.map((row) => exportedCommunication(row, logsOf.get(row.id) ?? [])),
        inboundMessages: inbound.map((row) => ({
          id: row.id,
          provider: row.provider,
          providerMessageId: row.provider_message_id,
          channel: row.channel,
          communicationId: row.communication_id,
          kind: row.kind,
          keyword: row.keyword,
          selection: row.selection,
          replyId: row.reply_id,
          text: row.text,
          receivedAt: iso(row.received_at),
          createdAt: iso(row.created_at),
        })),
        digests: digests.map((row) => ({
          id: row.id,
          status: row.status,
          itemCount: row.item_count,
          openedAt: iso(row.opened_at),
          flushAt: iso(row.flush_at),
          flushedAt: isoOrNull(row.flushed_at),
          communicationId: row.communication_id,
        })),
        attachments: attachments.map((row) => ({
          id: row.id,
          filename: row.filename,
          contentType: row.content_type,
          sizeBytes: row.size_bytes,
          sha256: row.sha256.toString('hex'),
          createdAt: iso(row.created_at),
        })),
      };
      await trx
        .insertInto('crm_audit_log')
        .values({
          action: 'client.exported',
          client_id: clientId,
          actor: options.actor ?? null,
          detail: JSON.stringify({
            preferences: exported.preferences !== null,
            communications: exported.communications.length,
            inbound: exported.inboundMessages.length,
            digests: exported.digests.length,
            attachments: exported.attachments.length,
          }),
        })
        .execute();
      return exported;
    });
}
