import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { jobDurationHistogram, type Logger } from '@crm/observability';
import { jobDataSchemas, type JobData } from './job-data';
import type { QueueName } from './queue-names';

/**
 * Handles one job's data. Throw `UnrecoverableError` for a failure that no retry can fix; call
 * {@link postponeJob} with `token` (the worker's lock on the job) to run it again later.
 */
export type JobProcessor<Q extends QueueName> = (data: JobData<Q>, job: Job<JobData<Q>>, token?: string, signal?: AbortSignal) => Promise<void>;

export interface QueueWorkerOptions<Q extends QueueName> {
  readonly queue: Q;
  readonly processor: JobProcessor<Q>;
  /** A `worker` connection from {@link createRedisConnection}; the worker duplicates it. */
  readonly connection: Redis;
  readonly prefix: string;
  readonly logger: Logger;
  /** Jobs processed at once by this process. @defaultValue 10 */
  readonly concurrency?: number;
  /** How long a job's lock lasts before another worker may take it over, in ms. @defaultValue 30000 */
  readonly lockDuration?: number;
  /** Start fetching jobs at once. @defaultValue true */
  readonly autorun?: boolean;
}

export interface QueueWorker {
  readonly worker: Worker;
  /** Resolves once the worker's Redis connections are up and it takes jobs. */
  ready(): Promise<void>;
  /** Stops taking jobs, waits for the ones in flight, then closes. */
  close(): Promise<void>;
}

/**
 * A BullMQ worker that validates each job's data against its queue's schema before the
 * processor sees it (bad data fails the job for good), logs failures with job and
 * communication ids only, and times each run in `crm_job_duration_seconds{queue,outcome}`.
 *
 * @example
 * const { close } = createQueueWorker({ queue: 'crm.email', processor, connection, prefix, logger });
 */
export function createQueueWorker<Q extends QueueName>(options: QueueWorkerOptions<Q>): QueueWorker {
  const { queue, processor, connection, prefix, logger, concurrency = 10, lockDuration = 30_000, autorun = true } = options;
  if (!connection) throw new TypeError('createQueueWorker requires a connection');
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError('concurrency must be a positive integer');
  const log = logger.child({ queue });
  const schema = jobDataSchemas[queue];

  const worker = new Worker<JobData<Q>>(
    queue,
    async (job, token, signal) => {
      const parsed = schema.safeParse(job.data);
      if (!parsed.success) {
        throw new UnrecoverableError(`job data does not match ${queue}: ${parsed.error.issues.map((i) => i.path.join('.') || i.code).join(', ')}`);
      }
      const stopTimer = jobDurationHistogram.startTimer({ queue });
      try {
        await processor(parsed.data as JobData<Q>, job, token, signal);
        stopTimer({ outcome: 'completed' });
      } catch (error) {
        stopTimer({ outcome: error instanceof DelayedError ? 'postponed' : 'failed' });
        throw error;
      }
    },
    // Check for stalled jobs (a worker that died holding one) as often as a lock lasts.
    { connection, prefix, concurrency, lockDuration, stalledInterval: Math.min(30_000, lockDuration), autorun },
  );
  worker.on('failed', (job, error) => {
    log.warn(
      { jobId: job?.id, communicationId: (job?.data as { communicationId?: string } | undefined)?.communicationId, attemptsMade: job?.attemptsMade, err: { name: error.name, message: error.message } },
      'job failed',
    );
  });
  worker.on('error', (error) => log.error({ err: { name: error.name, message: error.message } }, 'worker error'));

  const ready = () => worker.waitUntilReady().then(() => undefined);
  return {
    worker,
    ready,
    // Closing a worker whose connections are still being set up makes BullMQ emit an 'error'
    // with no listener left (the process would crash on SIGTERM right after start): wait first.
    close: async () => {
      await ready().catch(() => undefined);
      await worker.close();
    },
  };
}

/**
 * Ends the processing of `job` by moving it to the delayed set until `delayMs` from now, as
 * BullMQ's "delaying" pattern does: not a failure (no `failed` event) and no attempt spent
 * (`attemptsMade` stays); the same job, same id and data, runs again then. Only from inside the
 * processor, with the token it was given. Never returns: it throws BullMQ's `DelayedError`,
 * which the worker takes as "moved elsewhere"; let it propagate.
 *
 * @example
 * processor: async (data, job, token) => {
 *   if (overLimit) await postponeJob(job, token, 1_500);
 * }
 */
export async function postponeJob(job: Job, token: string | undefined, delayMs: number): Promise<never> {
  if (!token) throw new TypeError('postponeJob needs the token the worker gave the processor');
  await job.moveToDelayed(Date.now() + Math.max(0, Math.round(delayMs)), token);
  throw new DelayedError();
}
