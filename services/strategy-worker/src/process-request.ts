import type { Kysely } from 'kysely';
import { defaultClientPreferences, messageChannels, nextChannel, planChannels, type MessageChannel } from '@crm/core';
import { enqueueChannelJob, enqueueExpected, expectedJobFor } from '@crm/delivery';
import { findForRouting, findForRoutingMany, moveCommunication, queueOnFirstChannelMany, type Database, type FirstChannel, type RoutingRow } from '@crm/db';
import type { Logger } from '@crm/observability';
import { QueueName, type QueueProducer } from '@crm/queue';

export interface StrategyDeps {
  readonly db: Kysely<Database>;
  readonly producer: QueueProducer;
  readonly logger: Logger;
  /** Channels that have a worker in this deployment. @defaultValue every channel */
  readonly deliverableChannels?: readonly MessageChannel[];
}


export type RequestOutcome =
  | { readonly outcome: 'queued'; readonly channel: MessageChannel; readonly attempt: number }
  | { readonly outcome: 'failed'; readonly reason: string }
  | { readonly outcome: 'unchanged'; readonly status: string | null };

function planFor(deps: StrategyDeps, row: RoutingRow) {
  return planChannels({
    urgency: row.urgency,
    requestedChannel: row.requested_channel,
    preferredChannels: row.preferred_channels ?? defaultClientPreferences.channels,
    optOuts: row.opt_outs ?? [],
    hasEmail: row.has_email,
    hasPhone: row.has_phone,
    deliverable: deps.deliverableChannels ?? messageChannels,
  });
}

/**
 * {@link processRequest} for many `crm.requests` jobs at once (a worker coalesces the jobs it
 * runs concurrently): one query reads the rows, one statement moves every `pending` row that has
 * a channel to `queued`, and one `addBulk` per channel queue enqueues their jobs. Anything else
 * (a row that is further along, or that no channel can reach) takes the single-row path.
 */
export async function processRequestBatch(deps: StrategyDeps, ids: readonly string[]): Promise<RequestOutcome[]> {
  const rows = new Map((await findForRoutingMany(deps.db, ids)).map((row) => [row.id, row]));
  const decisions: FirstChannel[] = [];
  const outcomes = new Map<string, Promise<RequestOutcome>>();
  for (const id of ids) {
    if (outcomes.has(id) || decisions.some((d) => d.id === id)) continue;
    const row = rows.get(id);
    const plan = row?.status === 'pending' ? planFor(deps, row) : null;
    const first = plan?.channels[0];
    if (plan && first) decisions.push({ id, channel: first, plan: plan.channels, reason: plan.reason });
    else outcomes.set(id, processRequest(deps, id));
  }
  const moved = await queueOnFirstChannelMany(deps.db, decisions);
  const queued = decisions.filter((d) => moved.has(d.id));
  await Promise.all([
    deps.producer.enqueueMany(QueueName.email, queued.filter((d) => d.channel === 'email').map((d) => ({ communicationId: d.id, attempt: 1 }))),
    deps.producer.enqueueMany(
      QueueName.messaging,
      queued.flatMap((d) => (d.channel === 'email' ? [] : [{ communicationId: d.id, channel: d.channel, attempt: 1 }])),
    ),
  ]);
  for (const decision of decisions) {
    outcomes.set(decision.id, Promise.resolve(moved.has(decision.id) ? { outcome: 'queued', channel: decision.channel, attempt: 1 } : { outcome: 'unchanged', status: null }));
  }
  return Promise.all(ids.map((id) => outcomes.get(id) ?? Promise.resolve({ outcome: 'unchanged' as const, status: null })));
}

/**
 * Handles one `crm.requests` job. Safe to run again at any point (a crash, a redelivered job,
 * the reconciler): a `pending` row gets its channel plan and moves to `queued` on the first
 * channel (one statement), then its channel job is enqueued (same job id every time); a row
 * that is further along only gets the job it needs, if that is missing.
 */
export async function processRequest(deps: StrategyDeps, communicationId: string): Promise<RequestOutcome> {
  const log = deps.logger.child({ communicationId });
  const row = await findForRouting(deps.db, communicationId);
  if (!row) {
    log.warn('communication not found (erased?); nothing to do');
    return { outcome: 'unchanged', status: null };
  }
  if (row.status !== 'pending') {
    // A repeated job: make sure whatever comes next is queued (a no-op if it is).
    const job = expectedJobFor(row);
    if (job && job.queue !== QueueName.requests) await enqueueExpected(deps.producer, job);
    return { outcome: 'unchanged', status: row.status };
  }

  const plan = planFor(deps, row);
  const first = plan.channels[0];
  if (!first) {
    const moved = await moveCommunication(deps.db, {
      id: row.id,
      guard: { statuses: ['pending'] },
      to: 'failed',
      event: 'status_changed',
      failureReason: 'no_usable_channel',
      strategyReason: plan.reason,
      error: { message: plan.reason, code: 'no_usable_channel', category: 'permanent' },
    });
    log.warn({ reason: 'no_usable_channel', applied: moved.applied }, 'communication cannot be sent');
    return { outcome: 'failed', reason: 'no_usable_channel' };
  }
  const moved = await moveCommunication(deps.db, {
    id: row.id,
    guard: { statuses: ['pending'], attempt: 0 },
    to: 'queued',
    event: 'status_changed',
    channel: first,
    channelPlan: plan.channels,
    attempt: 1,
    logAttempt: 1,
    budget: 'reset',
    strategyReason: plan.reason,
    detail: { plan: [...plan.channels] },
  });
  if (!moved.applied) return { outcome: 'unchanged', status: moved.current?.status ?? null };
  await enqueueChannelJob(deps.producer, { communicationId: row.id, channel: first, attempt: 1 });
  log.debug({ channel: first }, 'queued');
  return { outcome: 'queued', channel: first, attempt: 1 };
}

/**
 * Handles one `crm.fallback` job: the channel `failedChannel` gave up on the communication.
 * Moves it to the next channel of its plan not yet tried (a new attempt number, its budget
 * reset), or, when none is left, to `failed` with reason `all_channels_failed` and a
 * `crm.events` event. Conditional on the row still awaiting that fallback, so a repeated job
 * does nothing.
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
    const moved = await moveCommunication(deps.db, {
      id: row.id,
      guard,
      to: 'failed',
      event: 'fallback',
      awaitingFallback: false,
      failureReason: 'all_channels_failed',
      detail: { tried: row.channels_tried, plan: row.channel_plan },
    });
    if (!moved.applied) return { outcome: 'unchanged', status: moved.current?.status ?? null };
    await deps.producer.enqueue(QueueName.events, { communicationId: row.id, event: 'failed', at: new Date().toISOString() });
    log.error({ tried: row.channels_tried, lastErrorCode: row.last_error_code, lastErrorCategory: row.last_error_category }, 'all channels failed');
    return { outcome: 'failed', reason: 'all_channels_failed' };
  }
  const attempt = row.attempt_count + 1;
  const moved = await moveCommunication(deps.db, {
    id: row.id,
    guard,
    to: 'queued',
    event: 'fallback',
    channel: next,
    attempt,
    logAttempt: attempt,
    budget: 'reset',
    awaitingFallback: false,
    nextAttemptAt: null,
    detail: { from: failedChannel, to: next, reason: row.last_error_category ?? 'unknown', code: row.last_error_code },
  });
  if (!moved.applied) return { outcome: 'unchanged', status: moved.current?.status ?? null };
  await enqueueChannelJob(deps.producer, { communicationId: row.id, channel: next, attempt });
  log.info({ next, attempt, category: row.last_error_category }, 'falling back to the next channel');
  return { outcome: 'queued', channel: next, attempt };
}
