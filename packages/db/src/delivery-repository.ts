import { sql, type Expression, type SqlBool } from 'kysely';
import { findForRoutingMany } from './delivery-batch';
import { canTransition, type CommunicationStatus, type ErrorCategory, type JsonObject, type MessageChannel } from '@crm/core';
import type { ClientContact } from './client-contact-repository';
import { decryptPiiSql, type PiiKeys } from './pii-crypto';
import type { Executor } from './communication-repository';
import type { CommunicationRow, DeliveryLogEvent } from './schema';

/**
 * The writes of the delivery pipeline. Each is ONE statement that locks the row, checks that
 * it is still where the caller believes (status, attempt number, channel), changes it and
 * appends its delivery-log row; so a stale or repeated job changes nothing, and a crash
 * between two statements never leaves a change without its log row or the reverse.
 */

/** Where the caller expects the row to be; the move applies only if all given parts match. */
export interface MoveGuard {
  readonly statuses: readonly CommunicationStatus[];
  readonly attempt?: number;
  readonly channel?: MessageChannel;
  readonly awaitingFallback?: boolean;
}

export interface MoveError {
  readonly message: string;
  readonly code?: string | null;
  readonly category?: ErrorCategory | null;
}

/** A guarded change of a communication and the log row that records it. */
export interface PipelineMove {
  readonly id: string;
  readonly guard: MoveGuard;
  readonly to: CommunicationStatus;
  readonly event: DeliveryLogEvent;
  /** Becomes the communication's channel and joins `channels_tried`. */
  readonly channel?: MessageChannel;
  readonly channelPlan?: readonly MessageChannel[];
  /** Raises `attempt_count` to this (the attempt the row is now on). */
  readonly attempt?: number;
  /** The attempt the log row is about. @defaultValue the guard's attempt, else `attempt` */
  readonly logAttempt?: number;
  /** `reset`: a new channel starts (1 attempt, no rate-limit waits); `spend`: one more attempt; `wait`: one more rate-limit wait. */
  readonly budget?: 'reset' | 'spend' | 'wait';
  readonly nextAttemptAt?: Date | null;
  readonly awaitingFallback?: boolean;
  readonly provider?: string;
  readonly providerMessageId?: string;
  readonly providerEventId?: string;
  readonly scheduledFor?: Date;
  /** The digest the row now waits in. */
  readonly digestId?: string;
  /** The template version the message was rendered from. */
  readonly template?: { readonly id: string; readonly version: number };
  readonly error?: MoveError;
  readonly failureReason?: string;
  readonly strategyReason?: string;
  readonly latencyMs?: number;
  readonly detail?: JsonObject;
}

export type MoveResult =
  | { readonly applied: true; readonly from: CommunicationStatus; readonly communication: CommunicationRow }
  | { readonly applied: false; readonly current: Pick<CommunicationRow, 'status' | 'attempt_count' | 'channel' | 'awaiting_fallback'> | null };


/** The `*_at` column each status stamps. */
export const stampColumn = {
  scheduled: 'scheduled_at',
  queued: 'queued_at',
  sending: 'sending_at',
  sent: 'sent_at',
  delivered: 'delivered_at',
  opened: 'opened_at',
  clicked: 'clicked_at',
  responded: 'responded_at',
  failed: 'failed_at',
  cancelled: 'cancelled_at',
  bounced: 'bounced_at',
} as const satisfies Record<Exclude<CommunicationStatus, 'pending' | 'batched'>, keyof CommunicationRow>;

/** A JSON-safe copy of a possibly undefined value for a `::type` cast. */
const param = <T>(value: T | undefined): T | null => (value === undefined ? null : value);

function moveQuery(db: Executor, move: PipelineMove) {
  const { guard } = move;
  const stamp = move.to === 'pending' || move.to === 'batched' ? null : stampColumn[move.to];
  const error = move.error ?? null;
  const channel = move.channel ?? null;

  return db
    .with('cur', (qb) =>
      qb
        .selectFrom('crm_communications')
        .select(['id', 'status', 'attempt_count', 'channel', 'awaiting_fallback'])
        .where('id', '=', move.id)
        .forUpdate(),
    )
    .with('upd', (qb) =>
      qb
        .updateTable('crm_communications as c')
        .from('cur')
        .set({
          status: move.to,
          ...(stamp && { [stamp]: sql`now()` }),
          updated_at: sql`now()`,
          ...(channel && {
            channel,
            channels_tried: sql`CASE WHEN ${channel} = ANY(c.channels_tried) THEN c.channels_tried ELSE array_append(c.channels_tried, ${channel}::text) END`,
          }),
          ...(move.channelPlan !== undefined && { channel_plan: sql`${[...move.channelPlan]}::text[]` }),
          ...(move.attempt !== undefined && { attempt_count: sql`greatest(c.attempt_count, ${move.attempt}::int)` }),
          ...(move.budget === 'reset' && { channel_attempts: 1, rate_limit_waits: 0 }),
          ...(move.budget === 'spend' && { channel_attempts: sql`c.channel_attempts + 1` }),
          ...(move.budget === 'wait' && { rate_limit_waits: sql`c.rate_limit_waits + 1` }),
          ...(move.nextAttemptAt !== undefined && { next_attempt_at: move.nextAttemptAt }),
          ...(move.awaitingFallback !== undefined && { awaiting_fallback: move.awaitingFallback }),
          ...(move.providerMessageId !== undefined && { provider_message_id: move.providerMessageId }),
          ...(error && { last_error: error.message, last_error_code: error.code ?? null, last_error_category: error.category ?? null }),
          ...(move.failureReason !== undefined && { failure_reason: move.failureReason }),
          ...(move.strategyReason !== undefined && { strategy_reason: move.strategyReason }),
          ...(move.scheduledFor !== undefined && { scheduled_for: move.scheduledFor }),
          ...(move.digestId !== undefined && { digest_id: move.digestId }),
          ...(move.template !== undefined && { template_id: move.template.id, template_version: move.template.version }),
        })
        .whereRef('c.id', '=', 'cur.id')
        .where((eb) => {
          const conditions: Expression<SqlBool>[] = [eb('cur.status', 'in', [...guard.statuses])];
          if (guard.attempt !== undefined) conditions.push(eb('cur.attempt_count', '=', guard.attempt));
          if (guard.channel !== undefined) conditions.push(eb('cur.channel', '=', guard.channel));
          if (guard.awaitingFallback !== undefined) conditions.push(eb('cur.awaiting_fallback', '=', guard.awaitingFallback));
          return eb.and(conditions);
        })
        .returningAll('c')
        .returning('cur.status as previous_status'),
    )
    .with('log', (qb) =>
      qb
        .insertInto('crm_delivery_logs')
        .columns([
          'communication_id', 'event', 'from_status', 'to_status', 'channel', 'attempt', 'provider', 'provider_message_id',
          'provider_event_id', 'error_code', 'error_category', 'error_message', 'latency_ms', 'detail',
        ])
        .expression((eb) =>
          eb.selectFrom('upd').select([
            'upd.id as communication_id',
            sql<DeliveryLogEvent>`${move.event}::text`.as('event'),
            'upd.previous_status as from_status',
            'upd.status as to_status',
            sql<MessageChannel>`${param(move.channel ?? guard.channel)}::crm_channel`.as('channel'),
            sql<number>`${param(move.logAttempt ?? guard.attempt ?? move.attempt)}::int`.as('attempt'),
            sql<string>`${param(move.provider)}::text`.as('provider'),
            sql<string>`${param(move.providerMessageId)}::text`.as('provider_message_id'),
            sql<string>`${param(move.providerEventId)}::text`.as('provider_event_id'),
            sql<string>`${error?.code ?? null}::text`.as('error_code'),
            sql<ErrorCategory>`${error?.category ?? null}::crm_error_category`.as('error_category'),
            sql<string>`${error?.message ?? null}::text`.as('error_message'),
            sql<number>`${move.latencyMs === undefined ? null : Math.round(move.latencyMs)}::int`.as('latency_ms'),
            sql<JsonObject>`${JSON.stringify(move.detail ?? {})}::jsonb`.as('detail'),
          ]),
        ),
    );
}

/** A joined row: the `cur_*` columns always, the updated row's columns (all null when refused). */
type MoveRow = { readonly id: string | null; readonly previous_status: CommunicationStatus | null; readonly cur_status: CommunicationStatus; readonly cur_attempt: number; readonly cur_channel: MessageChannel | null; readonly cur_awaiting: boolean };

function toResult(row: MoveRow | undefined): MoveResult {
  if (!row) return { applied: false, current: null };
  const { previous_status: previous, cur_status, cur_attempt, cur_channel, cur_awaiting, ...communication } = row;
  if (communication.id === null || previous === null) {
    return { applied: false, current: { status: cur_status, attempt_count: cur_attempt, channel: cur_channel, awaiting_fallback: cur_awaiting } };
  }
  return { applied: true, from: previous, communication: communication as unknown as CommunicationRow };
}

/**
 * Applies `move` if the row is still where its guard says, in one statement.
 *
 * @example
 * const result = await moveCommunication(db, {
 *   id, guard: { statuses: ['sending'], attempt: 3, channel: 'email' },
 *   to: 'sent', event: 'attempt_succeeded', attempt: 3, provider: 'smtp', providerMessageId,
 * });
 */
export async function moveCommunication(db: Executor, move: PipelineMove): Promise<MoveResult> {
  assertAllowed(move);
  const row = await moveQuery(db, move)
    .selectFrom('cur')
    .leftJoin('upd', (join) => join.onTrue())
    .select(['cur.status as cur_status', 'cur.attempt_count as cur_attempt', 'cur.channel as cur_channel', 'cur.awaiting_fallback as cur_awaiting'])
    .selectAll('upd')
    .executeTakeFirst();
  return toResult(row);
}

export type ClaimResult =
  | {
      readonly claimed: true;
      readonly resumed: boolean;
      readonly communication: CommunicationRow;
      readonly contact: ClientContact;
      /** The client's opt-outs as they are now: one that arrived while the job waited still wins. */
      readonly optOuts: readonly MessageChannel[];
    }
  | { readonly claimed: false; readonly current: Pick<CommunicationRow, 'status' | 'attempt_count' | 'channel' | 'awaiting_fallback'> | null };

export interface ClaimInput {
  readonly id: string;
  readonly attempt: number;
  readonly channel: MessageChannel;
  readonly provider: string;
}

/**
 * A move must follow the state machine of @crm/core, or stay in place (a fallback re-queues a
 * queued row on another channel; a resumed attempt is `sending` again): a programming error
 * otherwise, thrown before anything is written.
 */
function assertAllowed(move: PipelineMove): void {
  for (const from of move.guard.statuses) {
    if (from !== move.to && !canTransition(from, move.to)) throw new TypeError(`moveCommunication: ${from} → ${move.to} is not a transition of the status machine`);
  }
}

/**
 * Starts attempt `attempt` on `channel`: `queued → sending` (or `sending → sending` when an
 * earlier run of the same attempt died before recording its result: `resumed`), writes the
 * `attempt_started` log row, and returns the row with the client's decrypted contact details,
 * all in one statement. Refused when the row has moved on (sent, cancelled, a later attempt).
 */
export async function claimAttempt(db: Executor, keys: PiiKeys, input: ClaimInput): Promise<ClaimResult> {
  const row = await moveQuery(db, {
    id: input.id,
    guard: { statuses: ['queued', 'sending'], attempt: input.attempt, channel: input.channel, awaitingFallback: false },
    to: 'sending',
    event: 'attempt_started',
    attempt: input.attempt,
    provider: input.provider,
  })
    .selectFrom('cur')
    .leftJoin('upd', (join) => join.onTrue())
    .leftJoin('crm_client_preferences as p', 'p.client_id', 'upd.client_id')
    .select(['cur.status as cur_status', 'cur.attempt_count as cur_attempt', 'cur.channel as cur_channel', 'cur.awaiting_fallback as cur_awaiting'])
    .selectAll('upd')
    .select([
      decryptPiiSql('p.email_encrypted', 'p.email_key_id', keys).as('contact_email'),
      decryptPiiSql('p.phone_encrypted', 'p.phone_key_id', keys).as('contact_phone'),
      sql<MessageChannel[] | null>`p.opt_outs`.as('contact_opt_outs'),
    ])
    .executeTakeFirst();
  if (!row) return { claimed: false, current: null };
  const { contact_email: email, contact_phone: phone, contact_opt_outs: optOuts, ...rest } = row;
  const result = toResult(rest);
  if (!result.applied) return { claimed: false, current: result.current };
  return { claimed: true, resumed: result.from === 'sending', communication: result.communication, contact: { email, phone }, optOuts: optOuts ?? [] };
}

/** A communication's row as the strategy reads it (the client's preferences come from {@link getRoutingPreferencesMany}). */
export type RoutingRow = CommunicationRow;

/** The row, for the strategy. */
export async function findForRouting(db: Executor, id: string): Promise<RoutingRow | undefined> {
  return (await findForRoutingMany(db, [id]))[0];
}

/** The parts of an in-flight row that say which job it needs. */
export type InFlightRow = Pick<
  CommunicationRow,
  'id' | 'client_id' | 'status' | 'channel' | 'attempt_count' | 'awaiting_fallback' | 'next_attempt_at' | 'scheduled_for' | 'digest_id' | 'updated_at' | 'channels_tried' | 'last_error_category'
>;

/**
 * Rows that are not final and not `sent`-or-later, unchanged since `unchangedSince`, oldest
 * change first, after the keyset position `after` (for paging through a large backlog).
 */
export async function findInFlight(
  db: Executor,
  options: { readonly unchangedSince: Date; readonly limit: number; readonly after?: { readonly updatedAt: Date; readonly id: string } },
): Promise<InFlightRow[]> {
  let query = db
    .selectFrom('crm_communications')
    .select(['id', 'client_id', 'status', 'channel', 'attempt_count', 'awaiting_fallback', 'next_attempt_at', 'scheduled_for', 'digest_id', 'updated_at', 'channels_tried', 'last_error_category'])
    .where('status', 'in', ['pending', 'scheduled', 'queued', 'sending'])
    .where('updated_at', '<', options.unchangedSince)
    .orderBy('updated_at')
    .orderBy('id')
    .limit(options.limit);
  const after = options.after;
  if (after) query = query.where((eb) => eb(eb.refTuple('updated_at', 'id'), '>', eb.tuple(after.updatedAt, after.id)));
  return query.execute();
}

/** Of the given rows, the ids whose `updated_at` is still the one given (nobody changed them since). */
export async function findUnchanged(db: Executor, rows: readonly { readonly id: string; readonly updatedAt: Date }[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const { rows: found } = await sql<{ id: string }>`
    SELECT c.id FROM crm_communications c
    JOIN unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.updatedAt.toISOString())}::timestamptz[]) AS v(id, updated_at)
      ON v.id = c.id AND c.updated_at = v.updated_at`.execute(db);
  return found.map((row) => row.id);
}
