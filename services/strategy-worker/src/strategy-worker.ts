import type { Redis } from 'ioredis';
import { createQueueWorker, QueueName, type QueueWorker } from '@crm/queue';
import DataLoader from 'dataloader';
import { processDigest, processFallback, processRequest, processRequestBatch, type RequestOutcome, type StrategyDeps } from './process-request';
import { startReconciler, type Reconciler } from './reconciler';

export interface StrategyWorkerOptions extends StrategyDeps {
  /** A `worker` Redis connection. */
  readonly connection: Redis;
  readonly prefix: string;
  /** @defaultValue 20 */
  readonly concurrency?: number;
  /** How long a job stays locked to a worker that stopped answering. @defaultValue 30000 */
  readonly lockDurationMs?: number;
  /** Reconciler pass interval; `null` runs no reconciler in this process. @defaultValue 10000 */
  readonly reconcilerIntervalMs?: number | null;
  /** Reconciler grace period (see {@link startReconciler}). */
  readonly reconcilerGraceMs?: number;
  /** Coalesce concurrent request jobs arriving within this many ms into one batch; 0: one by one. @defaultValue 0 */
  readonly batchWindowMs?: number;
}

export interface StrategyWorker {
  readonly requests: QueueWorker;
  readonly fallback: QueueWorker;
  readonly digest: QueueWorker;
  readonly reconciler: Reconciler | null;
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Consumes `crm.requests` (decides the channels and time of each new communication: hands it
 * to the first channel's queue, schedules it, or puts it in its client's digest),
 * `crm.fallback` (moves a communication to its next channel, or fails it with
 * `all_channels_failed`) and `crm.digest` (flushes a digest window), and runs the reconciler.
 *
 * @example
 * const worker = startStrategyWorker({ db, producer, logger, connection, prefix });
 * await worker.close();
 */
export function startStrategyWorker(options: StrategyWorkerOptions): StrategyWorker {
  const { connection, prefix, concurrency = 20, lockDurationMs, reconcilerIntervalMs = 10_000, reconcilerGraceMs, batchWindowMs = 0, ...deps } = options;
  const batch = batchWindowMs > 0
    ? new DataLoader<string, RequestOutcome>((ids) => processRequestBatch(deps, ids), {
      cache: false,
      maxBatchSize: 100,
      batchScheduleFn: (callback) => void setTimeout(callback, batchWindowMs),
    })
    : null;
  const common = { connection, prefix, concurrency, logger: deps.logger, ...(lockDurationMs !== undefined && { lockDuration: lockDurationMs }) };
  const requests = createQueueWorker({
    ...common,
    queue: QueueName.requests,
    processor: async (data) => {
      await (batch ? batch.load(data.communicationId) : processRequest(deps, data.communicationId));
    },
  });
  const fallback = createQueueWorker({
    ...common,
    queue: QueueName.fallback,
    processor: async (data) => {
      await processFallback(deps, data.communicationId, data.failedChannel);
    },
  });
  const digest = createQueueWorker({
    ...common,
    queue: QueueName.digest,
    processor: async (data) => {
      await processDigest(deps, data.windowId);
    },
  });
  const reconciler = reconcilerIntervalMs === null
    ? null
    : startReconciler({
      db: deps.db, producer: deps.producer, logger: deps.logger, intervalMs: reconcilerIntervalMs,
      ...(reconcilerGraceMs !== undefined && { graceMs: reconcilerGraceMs }),
      ...(deps.clock !== undefined && { clock: deps.clock }),
    });
  return {
    requests,
    fallback,
    digest,
    reconciler,
    ready: async () => {
      await Promise.all([requests.ready(), fallback.ready(), digest.ready()]);
    },
    close: async () => {
      await reconciler?.stop();
      await Promise.all([requests.close(), fallback.close(), digest.close()]);
    },
  };
}
