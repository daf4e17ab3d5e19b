import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The registry of the engine's own Prometheus metrics, shared by every part of a process (ingest
 * serves it at `/metrics`, the workers on their ops server). Labels are ids of kinds and outcomes
 * only: never an email address, phone number, client or communication id, or message text; every
 * label's values come from a fixed set (named on each metric), so label sets stay bounded.
 */
export const metricsRegistry = new Registry();

// Process metrics (CPU, memory, event-loop lag, GC, handles), once per process.
collectDefaultMetrics({ register: metricsRegistry });

/**
 * Reads of routing preferences through the Redis cache, per client: `hit` (answered from Redis)
 * or `miss` (read from PostgreSQL: not cached, expired, invalidated, or Redis unavailable).
 */
export const preferencesCacheCounter = new Counter({
  name: 'crm_preferences_cache_total',
  help: 'Routing preference lookups through the Redis cache, by result (hit or miss)',
  labelNames: ['result'] as const,
  registers: [metricsRegistry],
});

/**
 * Status changes written by ingest and the workers. `channel`: `email`, `sms`, `whatsapp`, or
 * `none` while no channel is chosen; `message_type`: the message types of @crm/core;
 * `status`: the communication statuses of @crm/core. Use {@link countStatusChange}.
 */
export const communicationsCounter = new Counter({
  name: 'crm_communications_total',
  help: 'Communication status changes, by channel (none before one is chosen), message type and new status',
  labelNames: ['channel', 'message_type', 'status'] as const,
  registers: [metricsRegistry],
});

/**
 * Seconds from a request's acceptance (`created_at`) to `sent` (recorded by the channel worker)
 * and to `delivered` (a provider's delivery receipt), by channel (`email`, `sms`, `whatsapp`)
 * and stage (`sent`, `delivered`). Buckets from 50 ms to 1 h.
 */
export const deliveryTimeHistogram = new Histogram({
  name: 'crm_delivery_time_seconds',
  help: 'Time from acceptance of a request to sent / delivered, by channel and stage',
  labelNames: ['channel', 'stage'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
  registers: [metricsRegistry],
});

/**
 * The open rate over the analytics worker's rolling window (0 to 1), by channel and message type
 * (fixed enums). Set by the analytics worker; absent in processes that do not run it.
 */
export const openRateGauge = new Gauge({
  name: 'crm_open_rate',
  help: 'Share of delivered communications opened over the rolling window, by channel and message type',
  labelNames: ['channel', 'message_type'] as const,
  registers: [metricsRegistry],
});

/**
 * Errors of provider calls in the channel workers: `provider` (`smtp`, `twilio`, `whatsapp`),
 * `category` (the four error categories) and `code`, the provider's code when it is one of the
 * bounded forms {@link boundedErrorCode} keeps, else `other`.
 */
export const apiErrorsCounter = new Counter({
  name: 'crm_api_errors_total',
  help: 'Provider call errors in the channel workers, by provider, error category and provider code',
  labelNames: ['provider', 'category', 'code'] as const,
  registers: [metricsRegistry],
});

/**
 * Seconds a job's processor ran, by queue (the engine's queue names) and outcome (`completed`,
 * `failed`, `postponed`: moved back to the delayed set without failing).
 */
export const jobDurationHistogram = new Histogram({
  name: 'crm_job_duration_seconds',
  help: 'Job processing time by queue and outcome (completed, failed, postponed)',
  labelNames: ['queue', 'outcome'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [metricsRegistry],
});

/** Circuit breaker state by provider (`smtp`, `twilio`, `whatsapp`): 0 closed, 1 half-open, 2 open. */
export const breakerStateGauge = new Gauge({
  name: 'crm_breaker_state',
  help: 'Circuit breaker state per provider: 0 closed, 1 half-open, 2 open',
  labelNames: ['provider'] as const,
  registers: [metricsRegistry],
});

/** The numbers {@link breakerStateGauge} reports for each breaker state. */
export const breakerStateValue = Object.freeze({ closed: 0, half_open: 1, open: 2 } as const);

/** A queue whose job counts are reported at scrape time: what BullMQ's `Queue` offers. */
export interface CountableQueue {
  readonly name: string;
  getJobCounts(...types: ('waiting' | 'active' | 'delayed' | 'failed')[]): Promise<Record<string, number>>;
}

const queueStates = ['waiting', 'active', 'delayed', 'failed'] as const;
/** Each queue name's source; the newest registration wins (one producer per process in production). */
const watchedQueues = new Map<string, CountableQueue>();
/** How long a scrape waits for Redis before it leaves the queue gauges out. */
const QUEUE_COUNT_TIMEOUT_MS = 2_000;

/**
 * Jobs per queue (the engine's queue names) and state (`waiting`, `active`, `delayed`, `failed`),
 * read from Redis at scrape time from the queues {@link watchQueues} registered. When Redis does
 * not answer in time the series are left out of that scrape (not reported as 0).
 */
export const queueJobsGauge = new Gauge({
  name: 'crm_queue_jobs',
  help: 'Jobs per queue and state (waiting, active, delayed, failed), read at scrape time',
  labelNames: ['queue', 'state'] as const,
  registers: [metricsRegistry],
  async collect() {
    this.reset();
    await Promise.all(
      [...watchedQueues.values()].map(async (queue) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<null>((resolve) => {
          timer = setTimeout(() => resolve(null), QUEUE_COUNT_TIMEOUT_MS);
        });
        const counts = await Promise.race([queue.getJobCounts(...queueStates).catch(() => null), timeout]);
        clearTimeout(timer);
        if (!counts) return;
        for (const state of queueStates) this.set({ queue: queue.name, state }, counts[state] ?? 0);
      }),
    );
  },
});

/**
 * Reports these queues' job counts in {@link queueJobsGauge} at each scrape, until the returned
 * function is called (before the queues' connection closes).
 *
 * @example
 * const unwatch = watchQueues(producer.allQueues());
 */
export function watchQueues(queues: readonly CountableQueue[]): () => void {
  for (const queue of queues) watchedQueues.set(queue.name, queue);
  return () => {
    for (const queue of queues) if (watchedQueues.get(queue.name) === queue) watchedQueues.delete(queue.name);
  };
}

/** What a status change is about: labels from fixed enums only. */
export interface StatusChange {
  /** The communication's channel; `null` (label `none`) before one is chosen. */
  readonly channel: string | null;
  readonly messageType: string;
  readonly status: string;
}

/**
 * Counts one status change in {@link communicationsCounter}. Call it after the change committed.
 *
 * @example
 * countStatusChange({ channel: row.channel, messageType: row.message_type, status: 'sent' });
 */
export function countStatusChange(change: StatusChange): void {
  communicationsCounter.inc({ channel: change.channel ?? 'none', message_type: change.messageType, status: change.status });
}

/**
 * Records the time from `acceptedAt` (the row's `created_at`) to `at` in
 * {@link deliveryTimeHistogram}; a clock skew that makes it negative counts as 0.
 */
export function observeDeliveryTime(channel: string, stage: 'sent' | 'delivered', acceptedAt: Date, at: Date = new Date()): void {
  deliveryTimeHistogram.observe({ channel, stage }, Math.max(0, (at.getTime() - acceptedAt.getTime()) / 1000));
}

/**
 * The forms of provider codes kept as label values: HTTP statuses (`HTTP_429`), SMTP reply codes
 * (`550`), Twilio and WhatsApp numeric codes (up to 6 digits: their error tables), Node network
 * codes (`ETIMEDOUT`, `ERR_…`), and the engine's own (`BAD_RESPONSE`, `breaker_open`,
 * `unexpected_error`, `opted_out`). Anything else is `other`; no code is `none`.
 */
export function boundedErrorCode(code: string | null | undefined): string {
  if (code === null || code === undefined || code === '') return 'none';
  if (/^(HTTP_[1-5]\d\d|\d{3,6}|E[A-Z]{2,15}|ERR_[A-Z_]{1,40}|BAD_RESPONSE|breaker_open|unexpected_error|opted_out)$/.test(code)) return code;
  return 'other';
}

/** Counts one provider error in {@link apiErrorsCounter}, its code bounded by {@link boundedErrorCode}. */
export function countProviderError(provider: string, category: string, code: string | null | undefined): void {
  apiErrorsCounter.inc({ provider, category, code: boundedErrorCode(code) });
}
