import type { Kysely } from 'kysely';
import type { MessageChannel } from '@crm/core';
import { CommunicationRepository, getContactAvailability, type CommunicationRow, type Database } from '@crm/db';
import type { Logger } from '@crm/observability';
import type { QueueProducer } from '@crm/queue';

export interface StrategyDeps {
  readonly db: Kysely<Database>;
  readonly producer: QueueProducer;
  readonly logger: Logger;
}

/** Channels that have a worker today. SMS and WhatsApp arrive with the messaging worker. */
const deliverableChannels: readonly MessageChannel[] = ['email'];

type Decision =
  | { readonly kind: 'send'; readonly channel: MessageChannel; readonly reason: string }
  | { readonly kind: 'fail'; readonly reason: string; readonly detail: string };

/**
 * The walking skeleton's strategy: the requested channel if one was forced, else email; the
 * client must have an address for it. The strategy issue replaces this with urgency,
 * preferences, quiet hours and batching.
 */
export async function decideChannel(db: Kysely<Database>, row: CommunicationRow): Promise<Decision> {
  const channel = row.requested_channel ?? 'email';
  if (!deliverableChannels.includes(channel)) {
    return { kind: 'fail', reason: 'channel_not_available', detail: `no worker sends ${channel} yet` };
  }
  const contact = await getContactAvailability(db, row.client_id);
  if (!contact?.email) return { kind: 'fail', reason: 'no_contact_for_channel', detail: 'the client has no email address' };
  return { kind: 'send', channel, reason: row.requested_channel ? `channel ${channel} requested` : 'email: the only channel with a worker' };
}

/**
 * Handles one `crm.requests` job. Safe to run again at any point (a crash, a redelivered job,
 * the reconciler): a `pending` row is decided and moved to `queued`; a `queued` row gets its
 * channel job (same job id, so never twice); anything further along is left alone.
 */
export async function processRequest(deps: StrategyDeps, communicationId: string): Promise<void> {
  const log = deps.logger.child({ communicationId });
  let row = await CommunicationRepository.findById(deps.db, communicationId);
  if (!row) {
    log.warn('communication not found (erased?); nothing to do');
    return;
  }
  if (row.status === 'pending') {
    const decision = await decideChannel(deps.db, row);
    if (decision.kind === 'fail') {
      const result = await CommunicationRepository.updateStatus(deps.db, {
        id: row.id,
        to: 'failed',
        failureReason: decision.reason,
        strategyReason: decision.detail,
        error: { message: decision.detail, category: 'permanent' },
      });
      log.warn({ reason: decision.reason, applied: result.applied }, 'communication cannot be sent');
      return;
    }
    const result = await CommunicationRepository.updateStatus(deps.db, {
      id: row.id,
      to: 'queued',
      channel: decision.channel,
      strategyReason: decision.reason,
    });
    if (result.applied) row = result.communication;
    else row = (await CommunicationRepository.findById(deps.db, communicationId)) ?? row;
  }
  if (row.status === 'queued' && row.channel === 'email') {
    const jobId = await deps.producer.enqueue('crm.email', { communicationId: row.id, attempt: row.attempt_count + 1 });
    log.debug({ jobId }, 'email job enqueued');
  }
}
