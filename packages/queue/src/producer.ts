import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { jobDataSchemas, jobIdFor, type JobData } from './job-data';
import { queueNames, type QueueName } from './queue-names';

export interface ProducerOptions {
  /** A `producer` connection from {@link createRedisConnection}. */
  readonly connection: Redis;
  /** Key prefix of every queue (`QUEUE_PREFIX`). */
  readonly prefix: string;
}

export interface EnqueueOptions {
  /** Run no earlier than this many ms from now. */
  readonly delay?: number;
  /** Overrides the derived job id (rarely needed). */
  readonly jobId?: string;
}

/**
 * Jobs are kept a while after they finish, so that re-adding the same job id (a retry, the
 * reconciler) within that time is a no-op, and failed ones stay for inspection in Bull Board.
 */
export const defaultJobOptions: JobsOptions = Object.freeze({
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 24 * 3600, count: 100_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
});

/**
 * Adds jobs to the engine's queues. Data is validated against the queue's schema (ids only)
 * and the job id is derived from it, so enqueuing twice adds one job.
 *
 * @example
 * const producer = new QueueProducer({ connection, prefix: config.redis.queuePrefix });
 * await producer.enqueue('crm.requests', { communicationId });
 */
export class QueueProducer {
  readonly #props: ProducerOptions;
  readonly #queues = new Map<QueueName, Queue>();

  constructor(props: ProducerOptions) {
    if (!props.connection) throw new TypeError('QueueProducer requires a connection');
    if (!props.prefix) throw new TypeError('QueueProducer requires a prefix');
    this.#props = Object.freeze({ ...props });
  }

  /** The BullMQ queue behind `name` (for Bull Board, counts and tests). */
  queue(name: QueueName): Queue {
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.#props.connection, prefix: this.#props.prefix, defaultJobOptions });
      queue.on('error', () => undefined);
      this.#queues.set(name, queue);
    }
    return queue;
  }

  /** Every queue of the engine. */
  allQueues(): Queue[] {
    return queueNames.map((name) => this.queue(name));
  }

  /** Validates `data` and adds it under its derived job id; returns that id. */
  async enqueue<Q extends QueueName>(name: Q, data: JobData<Q>, options: EnqueueOptions = {}): Promise<string> {
    const parsed = jobDataSchemas[name].parse(data) as JobData<Q>;
    const jobId = options.jobId ?? jobIdFor(name, parsed);
    await this.queue(name).add(name, parsed, { jobId, ...(options.delay !== undefined && { delay: options.delay }) });
    return jobId;
  }

  /**
   * {@link enqueue} for many jobs of one queue in one round trip (BullMQ `addBulk`, a MULTI).
   * Every item is validated before anything is added; each gets its derived job id. Returns
   * the job ids in item order.
   *
   * @example
   * await producer.enqueueMany('crm.requests', created.map((id) => ({ communicationId: id })));
   */
  async enqueueMany<Q extends QueueName>(name: Q, items: readonly JobData<Q>[], options: Omit<EnqueueOptions, 'jobId'> = {}): Promise<string[]> {
    const jobs = items.map((data) => {
      const parsed = jobDataSchemas[name].parse(data) as JobData<Q>;
      const jobId = jobIdFor(name, parsed);
      return { name, data: parsed, opts: { jobId, ...(options.delay !== undefined && { delay: options.delay }) } };
    });
    if (jobs.length > 0) await this.queue(name).addBulk(jobs);
    return jobs.map((job) => job.opts.jobId);
  }

  /** Closes the queues (not the connection, which the caller owns). */
  async close(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((queue) => queue.close()));
    this.#queues.clear();
  }
}
