import type { ErrorCategory, MessageChannel } from '@crm/core';
import type { InFlightRow } from '@crm/db';
import { jobIdFor, QueueName, type QueueProducer } from '@crm/queue';

export interface ChannelJobRef {
  readonly communicationId: string;
  readonly channel: MessageChannel;
  readonly attempt: number;
  /**
   * The row's client: carried by `crm.messaging` jobs for the per-recipient rate limit (a
   * job without it has it looked up). Not part of the job id.
   */
  readonly clientId?: string;
}

/** The queue a channel's jobs go to. */
export const queueOfChannel = (channel: MessageChannel): QueueName => (channel === 'email' ? QueueName.email : QueueName.messaging);

/**
 * Adds the job for attempt `attempt` on `channel` (ids only), `delayMs` from now. The job id
 * is derived from (communication, channel, attempt), so adding it again is a no-op.
 *
 * @example
 * await enqueueChannelJob(producer, { communicationId: row.id, channel: 'sms', attempt: 1, clientId: row.client_id });
 */
export async function enqueueChannelJob(producer: QueueProducer, ref: ChannelJobRef, delayMs = 0): Promise<string> {
  const options = delayMs > 0 ? { delay: Math.round(delayMs) } : {};
  if (ref.channel === 'email') {
    return producer.enqueue(QueueName.email, { communicationId: ref.communicationId, attempt: ref.attempt }, options);
  }
  const data = { communicationId: ref.communicationId, channel: ref.channel, attempt: ref.attempt, ...(ref.clientId !== undefined && { clientId: ref.clientId }) };
  return producer.enqueue(QueueName.messaging, data, options);
}

/** The one job an in-flight row needs now, as a pure function of the row. */
export type ExpectedJob =
  | { readonly queue: typeof QueueName.requests; readonly jobId: string; readonly delayMs: number; readonly data: { readonly communicationId: string; readonly due?: number } }
  | { readonly queue: typeof QueueName.digest; readonly jobId: string; readonly delayMs: number; readonly data: { readonly clientId: string; readonly windowId: string } }
  | { readonly queue: typeof QueueName.fallback; readonly jobId: string; readonly delayMs: 0; readonly data: { readonly communicationId: string; readonly failedChannel: MessageChannel; readonly category: ErrorCategory } }
  | { readonly queue: typeof QueueName.email | typeof QueueName.messaging; readonly jobId: string; readonly delayMs: number; readonly ref: ChannelJobRef };

/**
 * Which job must exist for `row` to move on, or `null` if none (final, or already handed to a
 * provider). This is what the reconciler restores after a crash between commit and enqueue, or
 * after Redis lost its data:
 *
 * | row | job |
 * |---|---|
 * | `pending` | `crm.requests` |
 * | `scheduled` in a digest | `crm.digest` for the digest, delayed until `scheduled_for` (its flush time) |
 * | `scheduled` | `crm.requests` (a wake-up job with an id of its own), delayed until `scheduled_for` |
 * | `queued`, awaiting fallback | `crm.fallback` for the channel that gave up |
 * | `queued` or `sending` on a channel | that channel's job for attempt `attempt_count`, delayed until `next_attempt_at` |
 */
export function expectedJobFor(row: InFlightRow, now: Date = new Date()): ExpectedJob | null {
  const id = row.id;
  const until = (at: Date | null) => (at ? Math.max(0, at.getTime() - now.getTime()) : 0);
  switch (row.status) {
    case 'pending': {
      const data = { communicationId: id };
      return { queue: QueueName.requests, jobId: jobIdFor(QueueName.requests, data), delayMs: 0, data };
    }
    case 'scheduled': {
      if (row.digest_id) {
        const data = { clientId: row.client_id, windowId: row.digest_id };
        return { queue: QueueName.digest, jobId: jobIdFor(QueueName.digest, data), delayMs: until(row.scheduled_for), data };
      }
      return wakeUpJob(id, row.scheduled_for ?? now, now);
    }
    case 'queued':
    case 'sending': {
      if (row.status === 'queued' && row.awaiting_fallback) {
        if (!row.channel) return null;
        const data = { communicationId: id, failedChannel: row.channel, category: row.last_error_category ?? 'transient' };
        return { queue: QueueName.fallback, jobId: jobIdFor(QueueName.fallback, data), delayMs: 0, data };
      }
      if (!row.channel || row.attempt_count < 1) {
        // Queued without a channel: the strategy has not finished; its request job redoes it.
        const data = { communicationId: id };
        return { queue: QueueName.requests, jobId: jobIdFor(QueueName.requests, data), delayMs: 0, data };
      }
      const ref = { communicationId: id, channel: row.channel, attempt: row.attempt_count, clientId: row.client_id };
      const queue = queueOfChannel(row.channel) as typeof QueueName.email | typeof QueueName.messaging;
      const jobId = queue === QueueName.email
        ? jobIdFor(QueueName.email, { communicationId: id, attempt: ref.attempt })
        : jobIdFor(QueueName.messaging, { communicationId: id, channel: ref.channel as 'sms' | 'whatsapp', attempt: ref.attempt });
      return { queue, jobId, delayMs: row.status === 'queued' ? until(row.next_attempt_at) : 0, ref };
    }
    default:
      return null;
  }
}

/**
 * The `crm.requests` job that wakes a `scheduled` message at `due`: its id carries the time, so
 * it never collides with the message's first request job (kept for a day once completed) or
 * with an earlier wake-up.
 */
export function wakeUpJob(communicationId: string, due: Date, now: Date = new Date()): ExpectedJob & { queue: typeof QueueName.requests } {
  const data = { communicationId, due: due.getTime() };
  return { queue: QueueName.requests, jobId: jobIdFor(QueueName.requests, data), delayMs: Math.max(0, due.getTime() - now.getTime()), data };
}

/** The `crm.digest` job that flushes digest `digestId` at `flushAt`. */
export function digestFlushJob(clientId: string, digestId: string, flushAt: Date, now: Date = new Date()): ExpectedJob & { queue: typeof QueueName.digest } {
  const data = { clientId, windowId: digestId };
  return { queue: QueueName.digest, jobId: jobIdFor(QueueName.digest, data), delayMs: Math.max(0, flushAt.getTime() - now.getTime()), data };
}

/** Adds `job` (a no-op if a job with its id exists). */
export async function enqueueExpected(producer: QueueProducer, job: ExpectedJob): Promise<string> {
  const options = job.delayMs > 0 ? { delay: Math.round(job.delayMs) } : {};
  if ('ref' in job) return enqueueChannelJob(producer, job.ref, job.delayMs);
  if (job.queue === QueueName.fallback) return producer.enqueue(QueueName.fallback, { ...job.data }, options);
  if (job.queue === QueueName.digest) return producer.enqueue(QueueName.digest, { ...job.data }, options);
  return producer.enqueue(QueueName.requests, { ...job.data }, options);
}
