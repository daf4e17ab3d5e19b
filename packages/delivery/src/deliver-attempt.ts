import type { Kysely } from 'kysely';
import { decideAfterFailure, type BackoffPolicy, type ErrorCategory, type JsonObject, type MessageChannel } from '@crm/core';
import { moveCommunication, type ClientContact, type CommunicationRow, type Database, type PiiKeys } from '@crm/db';
import type { Logger } from '@crm/observability';
import { ProviderError } from '@crm/providers';
import { QueueName, type QueueProducer } from '@crm/queue';
import { BreakerOpenError, type ProviderBreakers } from './breakers';
import { enqueueChannelJob } from './channel-jobs';
import { singleRowWrites, type DeliveryWrites } from './writes';

/** What a channel worker hands to its provider: the row and the decrypted contact details. */
export interface OutgoingMessage {
  readonly communication: CommunicationRow;
  readonly contact: ClientContact;
}

/** What the provider said when it accepted the message. */
export interface SendReceipt {
  readonly providerMessageId: string;
  /** Non-personal details for the delivery log (provider status, reply code). */
  readonly detail?: JsonObject;
  /** The template version the message was rendered from, recorded on the communication. */
  readonly template?: { readonly id: string; readonly version: number };
}

/** One channel's way of sending. Throws {@link ProviderError} when the provider refuses or fails. */
export interface ChannelSender {
  readonly channel: MessageChannel;
  /** The provider's name, e.g. `smtp`, `twilio`, `whatsapp`: one circuit breaker each. */
  readonly provider: string;
  send(message: OutgoingMessage): Promise<SendReceipt>;
}

export interface DeliveryDeps {
  readonly db: Kysely<Database>;
  readonly producer: QueueProducer;
  readonly keys: PiiKeys;
  readonly logger: Logger;
  readonly breakers: ProviderBreakers;
  readonly retry: BackoffPolicy;
  /** Source of jitter; injectable for tests. @defaultValue Math.random */
  readonly random?: () => number;
  /** How claims and successes are written. @defaultValue one statement per job ({@link singleRowWrites}) */
  readonly writes?: DeliveryWrites;
}

export interface DeliveryJob {
  readonly communicationId: string;
  readonly attempt: number;
  readonly channel: MessageChannel;
}

export type AttemptOutcome =
  | { readonly outcome: 'sent'; readonly providerMessageId: string }
  | { readonly outcome: 'retry'; readonly delayMs: number; readonly nextAttempt: number }
  | { readonly outcome: 'fallback'; readonly reason: string }
  | { readonly outcome: 'skipped'; readonly status: string | null };

/** A failure in the terms of the table in ARCHITECTURE.md. */
interface Failure {
  readonly category: ErrorCategory;
  readonly code: string | null;
  readonly message: string;
  readonly retryAfterMs: number | null;
}

function asFailure(error: unknown, provider: string): Failure {
  if (error instanceof ProviderError) return { category: error.category, code: error.code, message: error.message, retryAfterMs: error.retryAfterMs };
  if (error instanceof BreakerOpenError) return { category: 'transient', code: 'breaker_open', message: error.message, retryAfterMs: null };
  // A bug or an unexpected library error: retried like a transient failure (it may be), then
  // the next channel is tried. Only its class name is kept: messages may quote the recipient.
  return { category: 'transient', code: 'unexpected_error', message: `${provider}: unexpected ${(error as Error | null)?.name ?? 'error'}`, retryAfterMs: null };
}

/**
 * One attempt of one channel job, safe to run any number of times:
 *
 * 1. **Claim** (one statement): `queued → sending` for exactly this attempt and channel, with an
 *    `attempt_started` log row, returning the decrypted contact. A job whose row has moved on
 *    (sent, cancelled, a later attempt, another channel) does nothing, so a redelivered job
 *    never sends twice once its attempt has been recorded.
 * 2. **Send** through the provider's circuit breaker (open: no call, fall back at once).
 * 3. **Record** (one statement, conditional on the attempt): `sending → sent` with the provider's
 *    message id; or, by error category, `sending → queued` for a retry with full-jitter backoff
 *    (a rate limit waits without spending an attempt), or `sending → queued` awaiting fallback,
 *    then the next job is enqueued (after the commit; the reconciler restores it if we die
 *    in between).
 *
 * The one window that cannot be closed: killed after the provider accepted the message and
 * before step 3 committed. The row stays `sending` for this attempt, the job is redelivered
 * (BullMQ's stalled-job check, or the reconciler), the claim sees `sending` and resumes, and
 * the message is sent again: at-least-once, logged as `resumed`.
 */
export async function deliverAttempt(deps: DeliveryDeps, job: DeliveryJob, sender: ChannelSender): Promise<AttemptOutcome> {
  const { db, breakers } = deps;
  const log = deps.logger.child({ communicationId: job.communicationId, attempt: job.attempt, channel: job.channel });
  const provider = sender.provider;

  const writes = deps.writes ?? singleRowWrites(db, deps.keys);
  const claim = await writes.claim({ id: job.communicationId, attempt: job.attempt, channel: job.channel, provider });
  if (!claim.claimed) {
    log.debug({ current: claim.current }, 'attempt not started: the row has moved on');
    return { outcome: 'skipped', status: claim.current?.status ?? null };
  }
  if (claim.resumed) log.warn('resuming an attempt whose earlier run died before recording its result: the provider may receive it twice');
  const row = claim.communication;

  const startedAt = performance.now();
  let receipt: SendReceipt;
  try {
    receipt = await breakers.fire(provider, () => sender.send({ communication: row, contact: claim.contact }));
  } catch (error) {
    return handleFailure(deps, { job, row, provider, log }, asFailure(error, provider), performance.now() - startedAt);
  }
  // Only the provider call is inside the try: a failure to record the success (the database
  // went away) must not count as a failed send. The job fails instead and is redelivered; its
  // claim then resumes the attempt: the window docs/delivery.md describes.
  const latencyMs = performance.now() - startedAt;
  const applied = await writes.recordSent({
    id: row.id,
    attempt: job.attempt,
    channel: job.channel,
    provider,
    providerMessageId: receipt.providerMessageId,
    latencyMs,
    detail: { ...(receipt.detail ?? {}), ...(claim.resumed && { resumed: true }) },
    ...(receipt.template && { template: receipt.template }),
  });
  if (!applied) log.warn('sent, but the row had moved on meanwhile');
  log.debug({ latencyMs: Math.round(latencyMs) }, 'sent');
  return { outcome: 'sent', providerMessageId: receipt.providerMessageId };
}

/** Records a failed attempt and schedules what its category asks for: a retry, or the fallback. */
async function handleFailure(
  deps: DeliveryDeps,
  context: { readonly job: DeliveryJob; readonly row: CommunicationRow; readonly provider: string; readonly log: Logger },
  failure: Failure,
  latencyMs: number,
): Promise<AttemptOutcome> {
  const { db, producer, breakers } = deps;
  const { job, row, provider, log } = context;
  const guard = { statuses: ['sending' as const], attempt: job.attempt, channel: job.channel };
  const decision = decideAfterFailure(
    { category: failure.category, channelAttempts: row.channel_attempts, rateLimitWaits: row.rate_limit_waits, retryAfterMs: failure.retryAfterMs },
    deps.retry,
    deps.random,
  );
  // Failures before any call (breaker open) go straight to the next channel.
  const effective = failure.code === 'breaker_open' ? { action: 'fallback' as const, openBreaker: false, reason: 'breaker_open' } : decision;
  const error = { message: failure.message, code: failure.code, category: failure.category };
  const logFields = { code: failure.code, category: failure.category, latencyMs: Math.round(latencyMs) };

  if (effective.action === 'retry') {
    const nextAttempt = job.attempt + 1;
    const moved = await moveCommunication(db, {
      id: row.id,
      guard,
      to: 'queued',
      event: 'attempt_failed',
      attempt: nextAttempt,
      provider,
      budget: effective.spendsAttempt ? 'spend' : 'wait',
      nextAttemptAt: new Date(Date.now() + effective.delayMs),
      error,
      latencyMs,
      detail: { action: effective.spendsAttempt ? 'retry' : 'wait_rate_limit', delayMs: effective.delayMs, failedAttempt: job.attempt },
    });
    if (!moved.applied) return { outcome: 'skipped', status: moved.current?.status ?? null };
    await enqueueChannelJob(producer, { communicationId: row.id, channel: job.channel, attempt: nextAttempt }, effective.delayMs);
    log.info({ ...logFields, delayMs: effective.delayMs, nextAttempt }, 'attempt failed; retry scheduled');
    return { outcome: 'retry', delayMs: effective.delayMs, nextAttempt };
  }

  if (effective.openBreaker) {
    breakers.trip(provider);
    log.error({ ...logFields, provider }, 'provider rejected our credentials: breaker opened, falling back; fix the credentials');
  }
  const moved = await moveCommunication(db, {
    id: row.id,
    guard,
    to: 'queued',
    event: 'attempt_failed',
    attempt: job.attempt,
    provider,
    awaitingFallback: true,
    nextAttemptAt: null,
    error,
    latencyMs,
    detail: { action: 'fallback', reason: effective.reason },
  });
  if (!moved.applied) return { outcome: 'skipped', status: moved.current?.status ?? null };
  await producer.enqueue(QueueName.fallback, { communicationId: row.id, failedChannel: job.channel, category: failure.category });
  log.info({ ...logFields, reason: effective.reason }, 'channel gave up; falling back');
  return { outcome: 'fallback', reason: effective.reason };
}
