import type { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { benchRequest, postClosedLoop, type IngestClient } from './engine';
import { memoryUnder, usedMemory } from './infra';
import { Progress } from './progress';
import { rate, round, summarize, type Latency } from './stats';
import { sleep } from './children';

export interface SingleIngestRate {
  readonly n: number;
  readonly connections: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: Latency;
}

export interface BatchIngestRate {
  /** False when ingest has no batch endpoint (404): the other fields are then absent. */
  readonly available: boolean;
  readonly n?: number;
  readonly batchSize?: number;
  readonly requestsInFlight?: number;
  readonly itemsPerSecond?: number;
  /** Round trip of one batch request. */
  readonly latencyMs?: Latency;
}

export interface RedisMemory {
  /** Jobs queued (crm.requests, no worker running). */
  readonly k: number;
  /** INFO memory used_memory after − before, per queued job (the whole server: other clients add noise). */
  readonly usedMemoryBytesPerMessage: number;
  /** MEMORY USAGE of every key under the run's queue prefix, per queued job (exact, this run only). */
  readonly keyBytesPerMessage: number;
  readonly keys: number;
}

/**
 * Ingest alone (no worker running, so nothing competes with it and jobs stay queued): the rate
 * of single POSTs over `connections` connections, Redis memory per queued job, then the rate of
 * the batch endpoint.
 */
export async function runIngestRates(options: {
  client: IngestClient;
  redis: Redis;
  prefix: string;
  n: number;
  connections: number;
  batchSize: number;
  batchConcurrency: number;
  measureMemory: boolean;
  measureBatch: boolean;
  check: () => void;
}): Promise<{ single: SingleIngestRate; batch: BatchIngestRate | null; memory: RedisMemory | null }> {
  const { client, redis, prefix, n } = options;
  const settle = () => sleep(500);
  let before = { used: 0, keys: { keys: 0, bytes: 0 } };
  if (options.measureMemory) {
    await settle();
    before = { used: await usedMemory(redis), keys: await memoryUnder(redis, prefix) };
  }

  const progress = new Progress('ingest, single requests', n);
  let posted;
  try {
    posted = await postClosedLoop(client, { count: n, concurrency: options.connections, body: (i) => benchRequest('bench-ingest', i), onAccepted: (count) => progress.update(count), check: options.check });
  } finally {
    progress.stop();
  }
  const single = { n, connections: options.connections, requestsPerSecond: rate(n, posted.ms), latencyMs: summarize(posted.latencies) };

  let memory: RedisMemory | null = null;
  if (options.measureMemory) {
    await settle();
    const used = await usedMemory(redis);
    const keys = await memoryUnder(redis, prefix);
    const queue = new Queue('crm.requests', { connection: redis, prefix });
    const waiting = await queue.getWaitingCount().finally(() => queue.close());
    if (waiting !== n) throw new Error(`expected ${n} jobs waiting in crm.requests, found ${waiting}`);
    memory = { k: n, usedMemoryBytesPerMessage: round((used - before.used) / n), keyBytesPerMessage: round((keys.bytes - before.keys.bytes) / n), keys: keys.keys };
  }

  let batch: BatchIngestRate | null = null;
  if (options.measureBatch) batch = await runBatch(options);
  return { single, batch, memory };
}

async function runBatch(options: { client: IngestClient; n: number; batchSize: number; batchConcurrency: number; check: () => void }): Promise<BatchIngestRate> {
  const { client, n, batchSize } = options;
  const probe = await client.post('/api/crm/communications/batch', { items: [] });
  if (probe.status === 404 && !probe.body.includes('validation')) return { available: false };
  const batches = Math.ceil(n / batchSize);
  const progress = new Progress(`ingest, batches of ${batchSize}`, n);
  const latencies: number[] = [];
  let next = 0;
  let items = 0;
  const started = performance.now();
  try {
    const lane = async () => {
      while (next < batches) {
        const b = next++;
        const from = b * batchSize;
        const payload = { items: Array.from({ length: Math.min(batchSize, n - from) }, (_, j) => benchRequest('bench-batch', from + j)) };
        const answer = await client.post('/api/crm/communications/batch', payload);
        if (answer.status >= 300) throw new Error(`batch endpoint answered ${answer.status}: ${answer.body.slice(0, 300)}`);
        latencies.push(answer.ms);
        items += payload.items.length;
        progress.update(items);
        options.check();
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.batchConcurrency, batches) }, lane));
  } finally {
    progress.stop();
  }
  return { available: true, n, batchSize, requestsInFlight: options.batchConcurrency, itemsPerSecond: rate(n, performance.now() - started), latencyMs: summarize(latencies) };
}
