import type { Kysely } from 'kysely';
import type { CommunicationStatus } from '@crm/core';
import type { Database } from '@crm/db';
import { countStatusChange, observeDeliveryTime } from '@crm/observability';

/**
 * Counts a status change recorded by code that knows only the communication's id (a provider's
 * delivery receipt): reads its channel, message type and acceptance time (one primary-key read),
 * counts `crm_communications_total`, and for `delivered` observes
 * `crm_delivery_time_seconds{stage="delivered"}` from acceptance to `at`. Never throws: a
 * metric must not fail the write it describes (a failed read is skipped).
 *
 * @example
 * if (result.outcome === 'applied') await countStatusOf(db, result.communicationId, result.to, result.at);
 */
export async function countStatusOf(db: Kysely<Database>, communicationId: string, status: CommunicationStatus, at: Date = new Date()): Promise<void> {
  const row = await db
    .selectFrom('crm_communications')
    .select(['channel', 'message_type', 'created_at'])
    .where('id', '=', communicationId)
    .executeTakeFirst()
    .catch(() => undefined);
  if (!row) return;
  countStatusChange({ channel: row.channel, messageType: row.message_type, status });
  if (status === 'delivered' && row.channel) observeDeliveryTime(row.channel, 'delivered', row.created_at, at);
}
