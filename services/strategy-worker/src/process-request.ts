import type { Kysely } from 'kysely';
import {
  defaultStrategySettings,
  determineStrategy,
  isEmailBounce,
  messageChannels,
  nextChannel,
  planSendTime,
  resolveRouting,
  shouldBatch,
  type ClientRouting,
  type MessageChannel,
  type SendTimeDecision,
  type StrategySettings,
} from '@crm/core';
import { digestFlushJob, enqueueChannelJob, enqueueExpected, expectedJobFor, wakeUpJob } from '@crm/delivery';
import {
  createEmailCopy,
  findForRouting,
  findForRoutingMany,
  flushDigest,
  getRoutingPreferencesMany,
  joinDigest,
  moveCommunication,
  queueOnFirstChannelMany,
  recentOnChannel,
  withClientChannelLock,
  type Database,
  type Executor,
  type FirstChannel,
  type FlushedDigest,
  type RoutingPreferences,
  type RoutingRow,
} from '@crm/db';
import { countStatusChange, type Logger } from '@crm/observability';
import { QueueName, type QueueProducer } from '@crm/queue';

/**
 * Where the strategy reads clients' routing preferences: the one function the preferences issue
 * puts a cache in front of. @defaultValue {@link getRoutingPreferencesMany} on the database
 */
export type PreferenceSource = (clientIds: readonly string[]) => Promise<Map<string, RoutingPreferences>>;

export interface StrategyDeps {
  readonly db: Kysely<Database>;
  readonly producer: QueueProducer;
  readonly logger: Logger;
  /** Channels that have a worker in this deployment. @defaultValue every channel */
  readonly deliverableChannels?: readonly MessageChannel[];
  /** @defaultValue {@link defaultStrategySettings} */
  readonly settings?: StrategySettings;
  /** The time, injectable so that tests can stand just before a quiet-hours window opens. @defaultValue `() => new Date()` */
  readonly clock?: () => Date;
  readonly preferences?: PreferenceSource;
}

export type RequestOutcome =
  | { readonly outcome: 'queued'; readonly channel: MessageChannel; readonly attempt: number }
  | { readonly outcome: 'scheduled'; readonly at: Date; readonly digestId?: string }
  | { readonly outcome: 'failed'; readonly reason: string }
  | { readonly outcome: 'unchanged'; readonly status: string | null };

/** A wake-up this close to its time counts as due (timer granularity, clocks of two hosts). */
const DUE_TOLERANCE_MS = 1_000;

const settingsOf = (deps: StrategyDeps) => deps.settings ?? defaultStrategySettings;
const nowOf = (deps: StrategyDeps) => (deps.clock ?? (() => new Date()))();

async function routingOf(deps: StrategyDeps, clientIds: readonly string[]): Promise<Map<string, ClientRouting>> {
  const stored = await (deps.preferences ?? ((ids) => getRoutingPreferencesMany(deps.db, ids)))(clientIds);
  const defaults = settingsOf(deps).defaults;
  return new Map(clientIds.map((clientId) => [clientId, resolveRouting(stored.get(clientId), defaults)]));
}

function decideChannels(deps: StrategyDeps, row: RoutingRow, routing: ClientRouting) {
  return determineStrategy({
    ...routing,
    urgency: row.urgency,
    messageType: row.message_type,
    requestedChannel: row.requested_channel,
    hasAttachment: row.attachment_ids.length > 0,
    deliverable: deps.deliverableChannels ?? messageChannels,
  });
}

function decideBatch(deps: StrategyDeps, row: RoutingRow, routing: ClientRouting) {
  return shouldBatch(
    {
      urgency: row.urgency,
      messageType: row.message_type,
      requestedChannel: row.requested_channel,
      requestedAt: row.send_at,
      hasAttachment: row.attachment_ids.length > 0,
      clientAllowsBatching: routing.batching,
    },
    settingsOf(deps).digest,
  );
}

/** Whether `channel` is under a frequency cap for this message (critical bypasses it when quiet hours are bypassed). */
function capped(deps: StrategyDeps, row: Pick<RoutingRow, 'urgency'>, channel: MessageChannel): boolean {
  const timing = settingsOf(deps).timing;
  return timing.frequencyCaps[channel] !== undefined && !(row.urgency === 'critical' && timing.criticalBypassesQuietHours);
}

/** When `row` may go out on `channel`, counting the client's recent messages there if the channel is capped. */
async function sendTimeOn(deps: StrategyDeps, db: Executor, row: RoutingRow, routing: ClientRouting, channel: MessageChannel, now: Date): Promise<SendTimeDecision> {
  const timing = settingsOf(deps).timing;
  const cap = capped(deps, row, channel) ? timing.frequencyCaps[channel] : undefined;
  const recent = cap
    ? await recentOnChannel(db, { clientId: row.client_id, channel, since: new Date(now.getTime() - cap.windowMs), now, exceptId: row.id })
    : [];
  return planSendTime({
    now,
    timezone: routing.timezone,
    requestedAt: row.send_at,
    channel,
    urgency: row.urgency,
    quietHours: routing.quietHours,
    recentOnChannel: recent,
    policy: timing,
  });
}

/** `work` under the client's lock on `channel` when it is capped (so two decisions on it take turns), else in a plain transaction. */
function decideInTransaction<T>(deps: StrategyDeps, row: RoutingRow, channel: MessageChannel, work: (trx: Executor) => Promise<T>): Promise<T> {
  return capped(deps, row, channel)
    ? withClientChannelLock(deps.db, row.client_id, channel, work)
    : deps.db.transaction().execute(work);
}

/**
 * {@link processRequest} for many `crm.requests` jobs at once (a worker coalesces the jobs it
 * runs concurrently): one query reads the rows, one the clients' preferences, one statement
 * moves every `pending` row that goes out now on an uncapped channel to `queued`, and one
 * `addBulk` per channel queue enqueues their jobs. Anything else (postponed, batched into a
 * digest, capped, critical with an email copy, further along, or unreachable) takes the
 * single-row path.
 */
export async function processRequestBatch(deps: StrategyDeps, ids: readonly string[]): Promise<RequestOutcome[]> {
  const rows = new Map((await findForRoutingMany(deps.db, ids)).map((row) => [row.id, row]));
  const pendingRows = [...rows.values()].filter((row) => row.status === 'pending');
  const routings = await routingOf(deps, pendingRows.map((row) => row.client_id));
  const now = nowOf(deps);
  const decisions: FirstChannel[] = [];
  const outcomes = new Map<string, Promise<RequestOutcome>>();
  for (const id of ids) {
    if (outcomes.has(id) || decisions.some((d) => d.id === id)) continue;
    const row = rows.get(id);
    const routing = row?.status === 'pending' ? routings.get(row.client_id) : undefined;
    const fast = row && routing ? fastDecision(deps, row, routing, now) : null;
    if (fast) decisions.push(fast);
    // The single-row path with what this batch already read (a pending row and its client).
    else outcomes.set(id, processRequest(deps, id, row && routing ? { row, routing } : undefined));
  }
  const moved = await queueOnFirstChannelMany(deps.db, decisions);
  const queued = decisions.filter((d) => moved.has(d.id));
  for (const d of queued) countStatusChange({ channel: d.channel, messageType: rows.get(d.id)!.message_type, status: 'queued' });
  await Promise.all([
    deps.producer.enqueueMany(QueueName.email, queued.filter((d) => d.channel === 'email').map((d) => ({ communicationId: d.id, attempt: 1 }))),
    deps.producer.enqueueMany(
      QueueName.messaging,
      queued.flatMap((d) => {
        if (d.channel === 'email') return [];
        const clientId = rows.get(d.id)?.client_id;
        return [{ communicationId: d.id, channel: d.channel, attempt: 1, ...(clientId !== undefined && { clientId }) }];
      }),
    ),
  ]);
  for (const decision of decisions) {
    outcomes.set(decision.id, Promise.resolve(moved.has(decision.id) ? { outcome: 'queued', channel: decision.channel, attempt: 1 } : { outcome: 'unchanged', status: null }));
  }
  return Promise.all(ids.map((id) => outcomes.get(id) ?? Promise.resolve({ outcome: 'unchanged' as const, status: null })));
}

/** The decision for the batched path, or `null` when the row needs the single-row path. */
function fastDecision(deps: StrategyDeps, row: RoutingRow, routing: ClientRouting, now: Date): FirstChannel | null {
  if (decideBatch(deps, row, routing).batch) return null;
  const decision = decideChannels(deps, row, routing);
  const first = decision.channels[0];
  if (!first || decision.alsoEmail || capped(deps, row, first)) return null;
  const time = planSendTime({
    now, timezone: routing.timezone, requestedAt: row.send_at, channel: first, urgency: row.urgency,
    quietHours: routing.quietHours, recentOnChannel: [], policy: settingsOf(deps).timing,
  });
  if (time.sendAt.getTime() > now.getTime() + DUE_TOLERANCE_MS) return null;
  return { id: row.id, channel: first, plan: decision.channels, reason: `${decision.reason}; ${time.reason}` };
}

/**
 * Handles one `crm.requests` job. Safe to run again at any point (a crash, a redelivered job,
 * the reconciler):
 *
 * - `pending`, low urgency: joins the client's digest (see {@link processDigest}).
 * - `pending`, or `scheduled` and due: decides the channels (determine_strategy) and the time
 *   (quiet hours, the channel's window and frequency cap, in the client's time zone). Due now:
 *   `queued` on the first channel and its job enqueued (and for `critical`, an email copy made).
 *   Later: `scheduled` with `scheduled_for`, and a delayed wake-up job; the decision is taken
 *   again when it wakes, with the preferences and counts of that moment.
 * - Anything further along only gets the job it needs, if that is missing.
 */
export async function processRequest(
  deps: StrategyDeps,
  communicationId: string,
  /** The row and its client's routing, when the caller read them just now (the batched path). */
  known?: { readonly row: RoutingRow; readonly routing: ClientRouting },
): Promise<RequestOutcome> {
  const log = deps.logger.child({ communicationId });
  const row = known?.row ?? (await findForRouting(deps.db, communicationId));
  if (!row) {
    log.warn('communication not found (erased?); nothing to do');
    return { outcome: 'unchanged', status: null };
  }
  const now = nowOf(deps);
  if (row.status === 'scheduled' && (row.digest_id || (row.scheduled_for && row.scheduled_for.getTime() > now.getTime() + DUE_TOLERANCE_MS))) {
    // Waiting in a digest, or woken early: make sure its job is there.
    const job = expectedJobFor(row, now);
    if (job) await enqueueExpected(deps.producer, job);
    return { outcome: 'unchanged', status: row.status };
  }
  if (row.status !== 'pending' && row.status !== 'scheduled') {
    // A repeated job: make sure whatever comes next is queued (a no-op if it is).
    const job = expectedJobFor(row, now);
    if (job && job.queue !== QueueName.requests) await enqueueExpected(deps.producer, job);
    return { outcome: 'unchanged', status: row.status };
  }

  const from = row.status;
  const routing = known?.routing ?? (await routingOf(deps, [row.client_id])).get(row.client_id)!;
  if (from === 'pending') {
    const batch = decideBatch(deps, row, routing);
    if (batch.batch) return addToDigest(deps, row, batch.reason, now);
  }

  const decision = decideChannels(deps, row, routing);
  const first = decision.channels[0];
  if (!first) {
    const moved = await moveCommunication(deps.db, {
      id: row.id,
      guard: { statuses: [from] },
      to: 'failed',
      event: 'status_changed',
      failureReason: 'no_usable_channel',
      strategyReason: decision.reason,
      error: { message: decision.reason, code: 'no_usable_channel', category: 'permanent' },
    });
    if (moved.applied) countStatusChange({ channel: row.channel, messageType: row.message_type, status: 'failed' });
    log.warn({ reason: 'no_usable_channel', applied: moved.applied }, 'communication cannot be sent');
    return { outcome: 'failed', reason: 'no_usable_channel' };
  }

  const result = await decideInTransaction(deps, row, first, async (trx) => {
    const time = await sendTimeOn(deps, trx, row, routing, first, now);
    const reason = `${decision.reason}; ${time.reason}`;
    if (time.sendAt.getTime() > now.getTime() + DUE_TOLERANCE_MS) {
      const moved = await moveCommunication(trx, {
        id: row.id,
        guard: { statuses: [from], attempt: 0 },
        to: 'scheduled',
        event: 'status_changed',
        channelPlan: decision.channels,
        scheduledFor: time.sendAt,
        strategyReason: reason,
        detail: { plan: [...decision.channels], sendAt: time.sendAt.toISOString(), why: time.reason },
      });
      return moved.applied ? ({ kind: 'scheduled', at: time.sendAt } as const) : ({ kind: 'unchanged', status: moved.current?.status ?? null } as const);
    }
    const moved = await moveCommunication(trx, {
      id: row.id,
      guard: { statuses: [from], attempt: 0 },
      to: 'queued',
      event: 'status_changed',
      channel: first,
      channelPlan: decision.channels,
      attempt: 1,
      logAttempt: 1,
      budget: 'reset',
      strategyReason: reason,
      detail: { plan: [...decision.channels], ...(decision.alsoEmail && { alsoEmail: true }) },
    });
    if (!moved.applied) return { kind: 'unchanged', status: moved.current?.status ?? null } as const;
    const copyId = decision.alsoEmail ? await createEmailCopy(trx, row.id) : null;
    return { kind: 'queued', copyId } as const;
  });

  if (result.kind === 'unchanged') return { outcome: 'unchanged', status: result.status };
  countStatusChange({ channel: result.kind === 'queued' ? first : row.channel, messageType: row.message_type, status: result.kind });
  if (result.kind === 'scheduled') {
    await enqueueExpected(deps.producer, wakeUpJob(row.id, result.at, now));
    log.debug({ at: result.at.toISOString() }, 'scheduled');
    return { outcome: 'scheduled', at: result.at };
  }
  await enqueueChannelJob(deps.producer, { communicationId: row.id, channel: first, attempt: 1, clientId: row.client_id });
  if (result.copyId) await deps.producer.enqueue(QueueName.requests, { communicationId: result.copyId });
  log.debug({ channel: first, copy: result.copyId }, 'queued');
  return { outcome: 'queued', channel: first, attempt: 1 };
}

/** Puts a low-urgency message into its client's digest; the item that fills it flushes it. */
async function addToDigest(deps: StrategyDeps, row: RoutingRow, reason: string, now: Date): Promise<RequestOutcome> {
  const digest = settingsOf(deps).digest;
  const joined = await joinDigest(deps.db, { id: row.id, clientId: row.client_id, flushAt: new Date(now.getTime() + digest.windowMs), maxItems: digest.maxItems, reason });
  await Promise.all(joined.flushed.map((flushed) => afterFlush(deps, flushed)));
  if (!joined.joined) return { outcome: 'unchanged', status: joined.move.applied ? null : (joined.move.current?.status ?? null) };
  countStatusChange({ channel: row.channel, messageType: row.message_type, status: 'scheduled' });
  if (!joined.flushed.some((flushed) => flushed.digestId === joined.digestId)) {
    await enqueueExpected(deps.producer, digestFlushJob(row.client_id, joined.digestId, joined.flushAt, now));
  }
  return { outcome: 'scheduled', at: joined.flushAt, digestId: joined.digestId };
}

/** Enqueues a flushed digest's message (a crash before this leaves it `pending`, for the reconciler). */
async function afterFlush(deps: StrategyDeps, flushed: FlushedDigest): Promise<void> {
  if (flushed.communicationId) await deps.producer.enqueue(QueueName.requests, { communicationId: flushed.communicationId });
  deps.logger.info({ digestId: flushed.digestId, communicationId: flushed.communicationId, items: flushed.itemIds.length }, 'digest flushed');
}

/**
 * Handles one `crm.digest` job: flushes the digest when its window closes (see @crm/db's
 * `flushDigest`: exactly once, however many workers try) and enqueues its message, which then
 * goes through the strategy like any other (quiet hours apply).
 */
export async function processDigest(deps: StrategyDeps, digestId: string): Promise<FlushedDigest | null> {
  const flushed = await flushDigest(deps.db, digestId);
  if (!flushed.flushed) return null;
  await afterFlush(deps, flushed);
  return flushed;
}

/**
 * Handles one `crm.fallback` job: the channel `failedChannel` gave up on the communication.
 * Moves it to the next channel of its plan not yet tried (a new attempt number, its budget
 * reset), at the first time that channel may be used (its window, quiet hours and cap: a
 * fallback from email to SMS at 23:00 waits for the morning), or, when none is left, to
 * `failed` with reason `all_channels_failed` and a `crm.events` event. Conditional on the row
 * still awaiting that fallback, so a repeated job does nothing.
 */
export async function processFallback(deps: StrategyDeps, communicationId: string, failedChannel: MessageChannel): Promise<RequestOutcome> {
  const log = deps.logger.child({ communicationId, failedChannel });
  const row: RoutingRow | undefined = await findForRouting(deps.db, communicationId);
  if (!row) return { outcome: 'unchanged', status: null };
  if (row.status !== 'queued' || !row.awaiting_fallback || row.channel !== failedChannel) {
    log.debug({ status: row.status }, 'fallback already handled');
    return { outcome: 'unchanged', status: row.status };
  }
  const guard = { statuses: ['queued' as const], attempt: row.attempt_count, channel: failedChannel, awaitingFallback: true };
  const next = nextChannel(row.channel_plan, row.channels_tried);
  if (!next) {
    // The last channel was email and the server refused the address (5xx): the message bounced.
    const bounced = failedChannel === 'email' && isEmailBounce(row.last_error_category, row.last_error_code);
    const moved = await moveCommunication(deps.db, {
      id: row.id,
      guard,
      to: bounced ? 'bounced' : 'failed',
      event: 'fallback',
      awaitingFallback: false,
      failureReason: 'all_channels_failed',
      detail: { tried: row.channels_tried, plan: row.channel_plan },
    });
    if (!moved.applied) return { outcome: 'unchanged', status: moved.current?.status ?? null };
    countStatusChange({ channel: failedChannel, messageType: row.message_type, status: bounced ? 'bounced' : 'failed' });
    await deps.producer.enqueue(QueueName.events, { communicationId: row.id, event: bounced ? 'bounced' : 'failed', at: new Date().toISOString() });
    log.error({ tried: row.channels_tried, lastErrorCode: row.last_error_code, lastErrorCategory: row.last_error_category }, 'all channels failed');
    return { outcome: 'failed', reason: 'all_channels_failed' };
  }
  const attempt = row.attempt_count + 1;
  const routing = (await routingOf(deps, [row.client_id])).get(row.client_id)!;
  const now = nowOf(deps);
  const result = await decideInTransaction(deps, row, next, async (trx) => {
    const time = await sendTimeOn(deps, trx, { ...row, send_at: null }, routing, next, now);
    const later = time.sendAt.getTime() > now.getTime() + DUE_TOLERANCE_MS;
    const moved = await moveCommunication(trx, {
      id: row.id,
      guard,
      to: 'queued',
      event: 'fallback',
      channel: next,
      attempt,
      logAttempt: attempt,
      budget: 'reset',
      awaitingFallback: false,
      nextAttemptAt: later ? time.sendAt : null,
      detail: {
        from: failedChannel, to: next, reason: row.last_error_category ?? 'unknown', code: row.last_error_code,
        ...(later && { sendAt: time.sendAt.toISOString(), why: time.reason }),
      },
    });
    return { moved, delayMs: later ? time.sendAt.getTime() - now.getTime() : 0 };
  });
  if (!result.moved.applied) return { outcome: 'unchanged', status: result.moved.current?.status ?? null };
  countStatusChange({ channel: next, messageType: row.message_type, status: 'queued' });
  await enqueueChannelJob(deps.producer, { communicationId: row.id, channel: next, attempt, clientId: row.client_id }, result.delayMs);
  log.info({ next, attempt, category: row.last_error_category, delayMs: result.delayMs }, 'falling back to the next channel');
  return { outcome: 'queued', channel: next, attempt };
}
