import { createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import {
  callbackUrlProblem,
  dispatchCallbackEvents,
  failCallbackDelivery,
  findCallbackDelivery,
  listPendingCallbackDeliveries,
  loadCallbackEvent,
  markCallbackDelivered,
  recordCallbackFailure,
  type Database,
  type PiiKeys,
} from '@crm/db';
import type { Logger } from '@crm/observability';
import { createQueueWorker, jobIdFor, postponeJob, QueueName, QueueProducer, type QueueWorker } from '@crm/queue';

/** The `user-agent` of every event callback. */
export const CALLBACK_USER_AGENT = 'crm-engine-callbacks/1';

/**
 * The `crm-signature` header of `body` sent at `timestamp` (unix seconds):
 * `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, the secret taken as its
 * UTF-8 bytes (the whole string, `whsec_` included).
 *
 * @example signCallback('whsec_…', '{"id":"evt_…"}', 1_790_000_000) // 't=1790000000,v1=5d41…'
 */
export function signCallback(secret: string, body: string, timestamp: number): string {
  const v1 = createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${v1}`;
}

/**
 * The wait after failed attempt number `attempt` (1-based): `base · 2^(attempt−1)`, capped at
 * `max`, of which the second half is random (so receivers coming back up are not hit by every
 * retry at once).
 */
export function callbackBackoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 40));
  return Math.round(exponential / 2 + (exponential / 2) * random());
}

export interface CallbackWorkerOptions {
  readonly db: Kysely<Database>;
  /** Decrypt the subscriptions' secrets and the replies' text. */
  readonly keys: PiiKeys;
  readonly logger: Logger;
  /** A `worker` Redis connection. */
  readonly connection: Redis;
  readonly prefix: string;
  /** Enqueues `crm.callbacks` jobs. @defaultValue a producer over `connection`, closed with the worker */
  readonly producer?: QueueProducer;
  /** @defaultValue 20 */
  readonly concurrency?: number;
  /** A job's lock, in ms. @defaultValue 30000 */
  readonly lockDurationMs?: number;
  /** A subscriber has this long to answer, in ms (`CALLBACK_TIMEOUT_MS`). @defaultValue 10000 */
  readonly timeoutMs?: number;
  /** Attempts per event before it is marked failed (`CALLBACK_MAX_ATTEMPTS`). @defaultValue 10 */
  readonly maxAttempts?: number;
  /** First retry delay, in ms. @defaultValue 1000 */
  readonly backoffBaseMs?: number;
  /** Longest retry delay, in ms. @defaultValue 3600000 */
  readonly backoffMaxMs?: number;
  /** How often new events are looked for, in ms; `null`: never (tests call `dispatch()`). @defaultValue 1000 */
  readonly dispatchIntervalMs?: number | null;
  /** Recent events scanned again by the dispatcher, in ms. @defaultValue 60000 */
  readonly dispatchOverlapMs?: number;
  /** Deliveries inserted per source per dispatch pass. @defaultValue 500 */
  readonly dispatchBatchSize?: number;
  /**
   * How often pending deliveries without a job (Redis flushed, a crash between commit and
   * enqueue) get their job back, in ms; `null`: never. @defaultValue 10000
   */
  readonly reconcileIntervalMs?: number | null;
  /** A pending delivery younger than this is left to the dispatcher's own enqueue, in ms. @defaultValue 5000 */
  readonly reconcileMinAgeMs?: number;
  /** Subscription URLs must be https, loopback hosts excepted (NODE_ENV=production). @defaultValue false */
  readonly requireHttps?: boolean;
}

export interface CallbackWorker {
  readonly callbacks: QueueWorker;
  /** One dispatch pass now: inserts the deliveries of new events and enqueues them; resolves with their ids. */
  dispatch(): Promise<string[]>;
  /** One reconcile pass now: resolves with the ids of the deliveries whose job was added again. */
  reconcile(): Promise<string[]>;
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** What a failed attempt gets in `last_error`: never the body, the URL or the secret. */
function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = error instanceof Error ? (error as Error & { cause?: unknown }).cause : undefined;
  const code = cause && typeof cause === 'object' && 'code' in cause ? String((cause as { code: unknown }).code) : undefined;
  return code ? `request failed (${code})` : 'request failed';
}

const errorOf = (error: unknown) => (error instanceof Error ? { name: error.name, message: error.message } : { message: String(error) });

/**
 * The callback worker: a dispatcher that turns the events recorded in PostgreSQL (status
 * changes in `crm_delivery_logs`, replies in `crm_inbound_messages`) into
 * `crm_callback_deliveries` rows and `crm.callbacks` jobs (`{ deliveryId }`, job id
 * `callback.<deliveryId>`), a consumer of `crm.callbacks` that builds each event from
 * PostgreSQL, signs it and POSTs it (2xx: delivered; anything else or no answer in time: retried
 * with exponential backoff, then `failed`), and a reconciler that gives pending deliveries their
 * job back after Redis lost it. Replicas may run side by side: the dispatcher scans each source
 * in one replica at a time and the unique key keeps one delivery per event and subscription.
 *
 * @example
 * const worker = startCallbackWorker({ db, keys, logger, connection, prefix });
 * await worker.close();
 */
export function startCallbackWorker(options: CallbackWorkerOptions): CallbackWorker {
  const {
    db, keys, logger, connection, prefix, concurrency = 20, lockDurationMs = 30_000, timeoutMs = 10_000, maxAttempts = 10,
    backoffBaseMs = 1_000, backoffMaxMs = 3_600_000, dispatchIntervalMs = 1_000, dispatchOverlapMs = 60_000, dispatchBatchSize = 500,
    reconcileIntervalMs = 10_000, reconcileMinAgeMs = 5_000, requireHttps = false,
  } = options;
  const log = logger.child({ component: 'callback-worker' });
  const ownProducer = options.producer === undefined;
  const producer = options.producer ?? new QueueProducer({ connection, prefix });
  let closed = false;

  const send = async (deliveryId: string, attempt: number, url: string, secret: string, body: string, eventId: string, eventType: string) => {
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': CALLBACK_USER_AGENT,
        'crm-event-id': eventId,
        'crm-event-type': eventType,
        'crm-signature': signCallback(secret, body, timestamp),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    // The answer's body is not read (nor logged): release the connection.
    await response.body?.cancel().catch(() => undefined);
    log.debug({ deliveryId, attempt, statusCode: response.status }, 'callback answered');
    return response.status;
  };

  const callbacks = createQueueWorker({
    queue: QueueName.callbacks,
    connection,
    prefix,
    concurrency,
    lockDuration: lockDurationMs,
    logger,
    processor: async ({ deliveryId }, job, token) => {
      const delivery = await findCallbackDelivery(db, keys, deliveryId);
      if (!delivery || delivery.status !== 'pending') return;
      const context = { deliveryId, subscriptionId: delivery.subscriptionId, eventId: delivery.eventId, eventType: delivery.eventType };
      if (delivery.subscriptionDeleted || delivery.secret === null) {
        await failCallbackDelivery(db, deliveryId, 'subscription deleted');
        return;
      }
      const wait = delivery.nextAttemptAt.getTime() - Date.now();
      // Redelivered early (a crash after recording the failure, the reconciler): wait for the retry's time.
      if (wait > 50) await postponeJob(job, token, wait);

      const urlProblem = callbackUrlProblem(delivery.url, { requireHttps });
      if (urlProblem !== null) {
        if (await failCallbackDelivery(db, deliveryId, `refused URL: ${urlProblem}`)) log.warn(context, 'callback URL refused; delivery failed');
        return;
      }
      const event = await loadCallbackEvent(db, keys, delivery);
      if (!event) {
        // The source row is gone (an erased client's reply): nothing left to send.
        if (await failCallbackDelivery(db, deliveryId, 'event source no longer exists')) log.info(context, 'callback source gone; delivery failed');
        return;
      }
      const body = JSON.stringify(event);
      const attempt = delivery.attempts + 1;
      let statusCode: number | null = null;
      let failure: string;
      try {
        statusCode = await send(deliveryId, attempt, delivery.url, delivery.secret, body, delivery.eventId, delivery.eventType);
        if (statusCode >= 200 && statusCode < 300) {
          if (await markCallbackDelivered(db, { id: deliveryId, attempt, statusCode })) {
            log.info({ ...context, attempt, statusCode, host: new URL(delivery.url).host }, 'callback delivered');
          }
          return;
        }
        failure = `HTTP ${statusCode}`;
      } catch (error) {
        failure = describeFailure(error, timeoutMs);
      }
      const last = attempt >= maxAttempts;
      const delayMs = last ? 0 : callbackBackoffMs(attempt, backoffBaseMs, backoffMaxMs);
      const recorded = await recordCallbackFailure(db, {
        id: deliveryId, attempt, statusCode, error: failure, nextAttemptAt: last ? null : new Date(Date.now() + delayMs),
      });
      if (!recorded) return; // another run recorded this attempt
      if (last) {
        log.warn({ ...context, attempt, statusCode, error: failure, host: new URL(delivery.url).host }, 'callback failed for good');
        return;
      }
      log.info({ ...context, attempt, statusCode, error: failure, retryInMs: delayMs }, 'callback attempt failed; will retry');
      await postponeJob(job, token, delayMs);
    },
  });

  const enqueue = async (ids: readonly string[]) => {
    for (let i = 0; i < ids.length; i += 500) {
      await producer.enqueueMany(QueueName.callbacks, ids.slice(i, i + 500).map((deliveryId) => ({ deliveryId })));
    }
  };

  let dispatching: Promise<string[]> | null = null;
  const dispatch = (): Promise<string[]> => {
    dispatching ??= (async () => {
      try {
        const { deliveryIds } = await dispatchCallbackEvents(db, { batchSize: dispatchBatchSize, overlapMs: dispatchOverlapMs });
        // A crash before this line leaves pending rows without jobs: the reconciler adds them.
        await enqueue(deliveryIds);
        if (deliveryIds.length > 0) log.debug({ deliveries: deliveryIds.length }, 'callback events dispatched');
        return [...deliveryIds];
      } finally {
        dispatching = null;
      }
    })();
    return dispatching;
  };

  let reconciling: Promise<string[]> | null = null;
  const reconcile = (): Promise<string[]> => {
    reconciling ??= (async () => {
      try {
        const queue = producer.queue(QueueName.callbacks);
        const restored: string[] = [];
        let afterId: string | undefined;
        for (;;) {
          const page = await listPendingCallbackDeliveries(db, { limit: 500, minAgeMs: reconcileMinAgeMs, ...(afterId !== undefined && { afterId }) });
          for (const pending of page) {
            const jobId = jobIdFor(QueueName.callbacks, { deliveryId: pending.id });
            const job = await queue.getJob(jobId);
            if (job) {
              const state = await job.getState();
              // A finished job with its delivery still pending: its run ended without a verdict.
              if (state !== 'completed' && state !== 'failed') continue;
              await job.remove().catch(() => undefined);
            }
            await producer.enqueue(QueueName.callbacks, { deliveryId: pending.id }, { delay: Math.max(0, pending.nextAttemptAt.getTime() - Date.now()) });
            restored.push(pending.id);
          }
          if (page.length < 500 || closed) break;
          afterId = page.at(-1)?.id;
        }
        if (restored.length > 0) log.info({ deliveries: restored.length }, 'callback jobs restored');
        return restored;
      } finally {
        reconciling = null;
      }
    })();
    return reconciling;
  };

  /** Runs `task` every `intervalMs` after the previous run ended (never two at once). */
  const loop = (intervalMs: number | null, what: string, task: () => Promise<unknown>) => {
    if (intervalMs === null) return () => undefined;
    let timer: NodeJS.Timeout | undefined;
    const schedule = () => {
      if (closed) return;
      timer = setTimeout(() => {
        task()
          .catch((error: unknown) => log.warn({ err: errorOf(error) }, `${what} failed`))
          .finally(schedule);
      }, intervalMs);
    };
    schedule();
    return () => clearTimeout(timer);
  };
  const stopDispatch = loop(dispatchIntervalMs, 'callback dispatch', dispatch);
  const stopReconcile = loop(reconcileIntervalMs, 'callback reconcile', reconcile);

  return {
    callbacks,
    dispatch,
    reconcile,
    ready: () => callbacks.ready(),
    async close() {
      closed = true;
      stopDispatch();
      stopReconcile();
      await callbacks.close();
      await Promise.all([dispatching?.catch(() => undefined), reconciling?.catch(() => undefined)]);
      if (ownProducer) await producer.close();
    },
  };
}
