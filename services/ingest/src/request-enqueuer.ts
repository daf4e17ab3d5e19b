import type { QueueProducer } from '@crm/queue';

interface Waiting {
  readonly communicationId: string;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Enqueues `crm.requests` jobs for concurrent requests together: every id handed over during
 * one turn of the event loop goes to Redis in one `addBulk` (one round trip) at the end of
 * that turn, instead of one round trip each. Under load this cuts the Redis cost of a request
 * to a fraction; alone, a request waits for nothing more than a `setImmediate`.
 * Each caller's promise settles with its flush (all of a flush fail together).
 */
export class RequestEnqueuer {
  readonly #producer: QueueProducer;
  #waiting: Waiting[] = [];

  constructor(producer: QueueProducer) {
    this.#producer = producer;
  }

  /** Resolves once the job for `communicationId` is in Redis. */
  enqueue(communicationId: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#waiting.length === 0) setImmediate(() => void this.#flush());
      this.#waiting.push({ communicationId, resolve, reject });
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#waiting;
    this.#waiting = [];
    try {
      await this.#producer.enqueueMany('crm.requests', batch.map(({ communicationId }) => ({ communicationId })));
      for (const waiting of batch) waiting.resolve();
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    }
  }
}
