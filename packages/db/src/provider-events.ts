import type { Transaction } from 'kysely';
import { nextChannel, type CommunicationStatus, type ErrorCategory, type MessageChannel } from '@crm/core';
import type { Executor } from './communication-repository';
import type { Database } from './schema';

/**
 * Delivery statuses from provider webhooks (issue 7): Twilio's status callbacks and WhatsApp's
 * `statuses`. Every new event is logged (a `webhook` delivery-log row carrying the provider's
 * event id); a replayed event (same provider and event id) changes nothing, thanks to the unique
 * index on `crm_delivery_logs (provider, provider_event_id)`; and the status only moves
 * forward, so a late `sent` never pulls a `delivered` message back.
 */

export type StatusProvider = 'twilio' | 'whatsapp';

export interface ProviderStatusInput {
  readonly provider: StatusProvider;
  /** Twilio's SID or WhatsApp's `wamid.…`, as stored in `crm_communications.provider_message_id`. */
  readonly providerMessageId: string;
  /** Unique per event of this provider (e.g. `SM…:delivered`). */
  readonly providerEventId: string;
  readonly status: 'sent' | 'delivered' | 'failed' | 'read';
  /** The provider's error code of a failure. */
  readonly errorCode?: string;
  /** What that failure means (the provider's delivery-error table); decides whether another channel is tried. @defaultValue 'permanent' */
  readonly errorCategory?: ErrorCategory;
  /** When it happened; stamps `delivered_at` / `opened_at` / `failed_at`. */
  readonly at: Date;
}

/**
 * - `applied`: logged, and the communication moved `from` → `to`.
 * - `fallback`: a `failed` status of a `sent` message whose plan has a channel not yet tried:
 *   logged, and the message moved `sent → queued` awaiting the fallback to that channel; the
 *   caller enqueues the `crm.fallback` job (the reconciler restores it if the caller dies first).
 * - `duplicate`: this event was recorded before; nothing changed.
 * - `stale`: logged, the status did not move (already there or beyond: a late `sent`, a
 *   `delivered` after `read`, anything after `failed`).
 * - `unknown_message`: no communication of this provider's channel has this message id; nothing recorded.
 */
export type ProviderStatusResult =
  | { readonly outcome: 'applied'; readonly communicationId: string; readonly from: CommunicationStatus; readonly to: 'delivered' | 'opened' | 'failed'; readonly at: Date }
  | { readonly outcome: 'fallback'; readonly communicationId: string; readonly failedChannel: MessageChannel; readonly category: ErrorCategory; readonly at: Date }
  | { readonly outcome: 'duplicate' | 'stale'; readonly communicationId: string }
  | { readonly outcome: 'unknown_message' };

/** The channel each provider carries: a Twilio SID never names a WhatsApp message. */
const channelOf: Readonly<Record<StatusProvider, MessageChannel>> = Object.freeze({ twilio: 'sms', whatsapp: 'whatsapp' });

/** Where each provider status moves a communication, and from which statuses (`sent` moves nothing: the worker set it). */
const moves = Object.freeze({
  delivered: { to: 'delivered', from: ['sent'] },
  read: { to: 'opened', from: ['sent', 'delivered'] },
  failed: { to: 'failed', from: ['sent'] },
} as const satisfies Record<string, { to: CommunicationStatus; from: readonly CommunicationStatus[] }>);

const stampOf = { delivered: 'delivered_at', opened: 'opened_at', failed: 'failed_at' } as const;

async function record(trx: Transaction<Database>, input: ProviderStatusInput): Promise<ProviderStatusResult> {
  // Locked for the rest of the transaction: concurrent callbacks of one message take turns, so
  // each sees the status the previous one left.
  const row = await trx
    .selectFrom('crm_communications')
    .select(['id', 'status', 'channel', 'attempt_count', 'channel_plan', 'channels_tried'])
    .where('provider_message_id', '=', input.providerMessageId)
    .where('channel', '=', channelOf[input.provider])
    .orderBy('created_at', 'desc')
    .limit(1)
    .forUpdate()
    .executeTakeFirst();
  if (!row) return { outcome: 'unknown_message' };

  const move = input.status === 'sent' ? null : moves[input.status];
  const moved = move && (move.from as readonly CommunicationStatus[]).includes(row.status) ? move.to : null;
  // A late failure with a channel left in the plan goes back to the queue for it instead of ending.
  const fallbackTo = moved === 'failed' ? nextChannel(row.channel_plan, row.channels_tried) : null;
  const to: CommunicationStatus | null = fallbackTo ? 'queued' : moved;
  const category: ErrorCategory = input.errorCategory ?? 'permanent';

  const logged = await trx
    .insertInto('crm_delivery_logs')
    .values({
      communication_id: row.id,
      event: 'webhook',
      from_status: row.status,
      to_status: to,
      channel: row.channel,
      attempt: row.attempt_count,
      provider: input.provider,
      provider_message_id: input.providerMessageId,
      provider_event_id: input.providerEventId,
      error_code: input.errorCode ?? null,
      ...(moved === 'failed' && { error_category: category }),
      detail: JSON.stringify({ status: input.status, at: input.at.toISOString(), moved: to !== null, ...(fallbackTo && { fallbackTo }) }),
    })
    .onConflict((oc) => oc.columns(['provider', 'provider_event_id']).where('provider_event_id', 'is not', null).doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!logged) return { outcome: 'duplicate', communicationId: row.id };
  if (moved === null) return { outcome: 'stale', communicationId: row.id };
  const lastError = `${input.provider} reported the message undelivered${input.errorCode === undefined ? '' : ` (error ${input.errorCode})`}`;

  if (fallbackTo && row.channel) {
    await trx
      .updateTable('crm_communications')
      .set({
        status: 'queued',
        queued_at: new Date(),
        awaiting_fallback: true,
        next_attempt_at: null,
        last_error: lastError,
        last_error_code: input.errorCode ?? null,
        last_error_category: category,
        updated_at: new Date(),
      })
      .where('id', '=', row.id)
      .execute();
    return { outcome: 'fallback', communicationId: row.id, failedChannel: row.channel, category, at: input.at };
  }

  await trx
    .updateTable('crm_communications')
    .set({
      status: moved,
      [stampOf[moved]]: input.at,
      updated_at: new Date(),
      ...(moved === 'failed' && { last_error: lastError, last_error_code: input.errorCode ?? null, last_error_category: category, failure_reason: 'provider_undelivered' }),
    })
    .where('id', '=', row.id)
    .execute();
  return { outcome: 'applied', communicationId: row.id, from: row.status, to: moved, at: input.at };
}

/**
 * Records one delivery status from a provider webhook, in one transaction: finds the
 * communication by the provider's message id (on that provider's channel), logs a `webhook`
 * row with the provider's event id (a repeat of the event stops here: `duplicate`), and moves
 * the status forward only: `delivered` from `sent`; `read` → `opened` from `sent` or
 * `delivered`; `failed` → `failed` from `sent` (with `last_error_code`), or back to `queued`
 * awaiting the fallback when the plan still has a channel (`fallback`). `sent` never moves
 * (the worker set it when the provider accepted the message).
 *
 * @example
 * const result = await recordProviderStatus(db, {
 *   provider: 'twilio', providerMessageId: sid, providerEventId: `${sid}:delivered`, status: 'delivered', at: new Date(),
 * });
 * if (result.outcome === 'applied') await producer.enqueue('crm.events', { communicationId: result.communicationId, event: 'delivered', at: result.at.toISOString() });
 */
export async function recordProviderStatus(db: Executor, input: ProviderStatusInput): Promise<ProviderStatusResult> {
  if (db.isTransaction) return record(db as Transaction<Database>, input);
  return db.transaction().execute((trx) => record(trx, input));
}
