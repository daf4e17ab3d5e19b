import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { decideAfterFailure, nextChannel, type BackoffPolicy, type ErrorCategory, type FailureAction, type JsonObject, type MessageChannel } from '@crm/core';
import { moveCommunication, type ClientContact, type CommunicationRow, type Database, type PiiKeys } from '@crm/db';
import { countProviderError, countStatusChange, observeDeliveryTime, type Logger } from '@crm/observability';
import { ProviderError } from '@crm/providers';
import { QueueName, type QueueProducer } from '@crm/queue';
import { BreakerOpenError, type ProviderBreakers } from './breakers';
import type { PreferencesCache } from './preferences-cache';
import { enqueueChannelJob } from './channel-jobs';
import type { LimitKey, RateLimitGrant, SendRateLimiter } from './send-rate-limiter';
import { limitsRecipients, postponeMs, rateLimitKeysFor, type SendRateLimits } from './send-rate-limits';
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
  /**
   * Provider rate limits taken before each call (by the sender's `provider`); a job over them
   * waits (up to `maxWaitMs`) or is postponed, spending no attempt. @defaultValue no limits
   */
  readonly rateLimits?: SendRateLimits;
  /**
   * The routing preferences cache, invalidated when a sender changes a client's preferences (a
   * bounce suppresses the address, a provider reports an opt-out). @defaultValue none
   */
  readonly preferencesCache?: PreferencesCache;
}

export interface DeliveryJob {
  readonly communicationId: string;
  readonly attempt: number;
  readonly channel: MessageChannel;
  /** The row's client, for the per-recipient rate limit; looked up when missing (an older job). */
  readonly clientId?: string;
}

export type AttemptOutcome =
  | { readonly outcome: 'sent'; readonly providerMessageId: string }
  | { readonly outcome: 'retry'; readonly delayMs: number; readonly nextAttempt: number }
  | { readonly outcome: 'fallback'; readonly reason: string }
  | { readonly outcome: 'skipped'; readonly status: string | null }
  /** Over a rate limit: nothing was written or sent; run the same job again in `delayMs`. */
  | { readonly outcome: 'postponed'; readonly delayMs: number };

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
 * 0. **Rate limits** (when `deps.rateLimits` limits the sender's provider): the earliest slot
 *    that the provider account's limit and the recipient's both allow. More than `maxWaitMs`
 *    away: answers `postponed` having reserved and written nothing (the caller delays the job;
 *    no attempt is spent). Otherwise it is reserved in both, the claim runs, and the call waits
 *    for the slot. A call that would leave more than half the limits' margin after its slot (a
 *    claim slower than the wait, a busy event loop) trades it for the next free one, so that the
 *    provider, which counts arrivals, never sees calls closer than the limit allows. A job that
 *    does not claim gives its slot back.
 * 1. **Claim** (one statement): `queued → sending` for exactly this attempt and channel, with an
 *    `attempt_started` log row, returning the decrypted contact and the client's opt-outs as
 *    they are now (one for this channel that arrived while the job waited: not sent, handed to
 *    the fallback as a `permanent` failure with code `opted_out`). A job whose row has moved on
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

  const limits = await rateLimitsOf(deps, job, provider);
  let slot: { grant: RateLimitGrant; at: number } | null = null;
  if (limits) {
    const answer = await limits.limiter.acquire(limits.keys, limits.maxWaitMs);
    if (!answer.granted) {
      const delayMs = postponeMs(answer.retryInMs, limits.maxWaitMs);
      log.debug({ provider, delayMs }, 'over the rate limit: job postponed');
      return { outcome: 'postponed', delayMs };
    }
    slot = { grant: answer, at: performance.now() + answer.waitMs };
  }

  const writes = deps.writes ?? singleRowWrites(db, deps.keys);
  const release = async () => {
    if (limits && slot) await limits.limiter.release(limits.keys, slot.grant);
  };
  const claim = await writes.claim({ id: job.communicationId, attempt: job.attempt, channel: job.channel, provider }).catch(async (error: unknown) => {
    await release().catch(() => undefined);
    throw error;
  });
  if (!claim.claimed) {
    await release();
    log.debug({ current: claim.current }, 'attempt not started: the row has moved on');
    return { outcome: 'skipped', status: claim.current?.status ?? null };
  }
  if (claim.resumed) log.warn('resuming an attempt whose earlier run died before recording its result: the provider may receive it twice');
  const row = claim.communication;
  if (!claim.resumed) countStatusChange({ channel: job.channel, messageType: row.message_type, status: 'sending' });
  if (claim.optOuts.includes(job.channel)) {
    // An opt-out (SMS STOP, an email unsubscribe) that arrived while the job waited wins: not
    // sent; the channel gave up as after a permanent refusal, so the next one is tried.
    await release();
    log.info('the client opted out of this channel while the message waited: not sent');
    return handleFailure(deps, { job, row, provider, log }, { category: 'permanent', code: 'opted_out', message: `the client opted out of ${job.channel}`, retryAfterMs: null }, 0);
  }
  if (limits && slot) {
    await sleepUntil(slot.at);
    // The provider counts arrivals: a call that leaves well after its slot (the claim outlasted
    // the wait, or a busy event loop ran the timer late) would crowd the window after it. Such a
    // call gives its slot back and takes the next one, however far (the claim stays).
    while (performance.now() - slot.at > limits.lateToleranceMs) {
      log.debug({ provider, lateMs: Math.round(performance.now() - slot.at) }, 'too late for its rate-limit slot: taking the next one');
      await release();
      const again = await limits.limiter.acquire(limits.keys);
      if (!again.granted) break;
      slot = { grant: again, at: performance.now() + again.waitMs };
      await sleepUntil(slot.at);
    }
    log.debug({ provider, slotAtMs: slot.grant.slotAtMs, lateMs: Math.round((performance.now() - slot.at) * 10) / 10 }, 'rate-limit slot reached: calling the provider');
  }

  const startedAt = performance.now();
  let receipt: SendReceipt;
  try {
    receipt = await breakers.fire(provider, () => sender.send({ communication: row, contact: claim.contact }));
  } catch (error) {
    const failure = asFailure(error, provider);
    if (error instanceof ProviderError) countProviderError(provider, failure.category, failure.code);
    return handleFailure(deps, { job, row, provider, log }, failure, performance.now() - startedAt);
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
  if (applied) {
    countStatusChange({ channel: job.channel, messageType: row.message_type, status: 'sent' });
    observeDeliveryTime(job.channel, 'sent', row.created_at);
  } else log.warn('sent, but the row had moved on meanwhile');
  log.debug({ latencyMs: Math.round(latencyMs) }, 'sent');
  return { outcome: 'sent', providerMessageId: receipt.providerMessageId };
}

/**
 * The rate limits of this job's call, if its provider has any: the account's and, for the
 * recipient's, the job's client (read from the row for a job that does not carry it).
 */
async function rateLimitsOf(
  deps: DeliveryDeps,
  job: DeliveryJob,
  provider: string,
): Promise<{ readonly limiter: SendRateLimiter; readonly keys: LimitKey[]; readonly maxWaitMs: number; readonly lateToleranceMs: number } | null> {
  const limits = deps.rateLimits;
  if (!limits || !limits.providers[provider]) return null;
  let clientId = job.clientId ?? null;
  if (clientId === null && limitsRecipients(limits, provider)) {
    clientId = await clientIdOf(deps.db, job.communicationId);
    // No row (erased): the claim finds nothing to send either.
    if (clientId === null) return null;
  }
  const keys = rateLimitKeysFor(limits, provider, clientId);
  // A call may leave this much after its slot (a claim slower than the wait, a busy event loop): half the margin.
  return keys.length > 0 ? { limiter: limits.limiter, keys, maxWaitMs: limits.maxWaitMs, lateToleranceMs: limits.marginMs / 2 } : null;
}

/**
 * Sleeps until `target` (a `performance.now()` time) and not less: a timer counts from the event
 * loop's cached time, which a busy loop leaves behind, so it can fire a little early.
 */
async function sleepUntil(target: number): Promise<void> {
  for (let left = target - performance.now(); left > 0; left = target - performance.now()) await sleep(Math.ceil(left));
}

/** The client of a communication (one primary-key read), for jobs enqueued without it. */
async function clientIdOf(db: Kysely<Database>, id: string): Promise<string | null> {
  const row = await db.selectFrom('crm_communications').select('client_id').where('id', '=', id).executeTakeFirst();
  return row?.client_id ?? null;
}

/**
 * What a `breaker_open` failure does: fall back when the plan has another channel; on its last
 * channel, retry like a transient failure (`decision`, which spends an attempt and falls back,
 * to failure, once they are spent) but never before the breaker lets a probe through.
 */
export function breakerOpenAction(row: Pick<CommunicationRow, 'channel_plan' | 'channels_tried'>, decision: FailureAction, resetTimeoutMs: number): FailureAction {
  if (nextChannel(row.channel_plan, row.channels_tried) !== null || decision.action !== 'retry') {
    return { action: 'fallback', openBreaker: false, reason: 'breaker_open' };
  }
  return { ...decision, delayMs: Math.max(decision.delayMs, resetTimeoutMs) };
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
  // Failures before any call (breaker open) go straight to the next channel. On the last channel
  // of the plan there is none to go to: the message waits for the breaker's next probe (at least
  // its reset time), spending an attempt, so a short outage of the only usable provider delays
  // messages instead of failing them (the chaos run found 402 of 3,333 failed by a 30 s outage).
  const effective = failure.code === 'breaker_open' ? breakerOpenAction(row, decision, breakers.resetTimeoutMs) : decision;
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
    countStatusChange({ channel: job.channel, messageType: row.message_type, status: 'queued' });
    await enqueueChannelJob(producer, { communicationId: row.id, channel: job.channel, attempt: nextAttempt, clientId: row.client_id }, effective.delayMs);
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
  countStatusChange({ channel: job.channel, messageType: row.message_type, status: 'queued' });
  await producer.enqueue(QueueName.fallback, { communicationId: row.id, failedChannel: job.channel, category: failure.category });
  log.info({ ...logFields, reason: effective.reason }, 'channel gave up; falling back');
  return { outcome: 'fallback', reason: effective.reason };
}
