/**
 * One hop of the bench's raw BullMQ baseline, run as its own process (as the engine's workers
 * are): takes no-op jobs from `--queue` and either adds each to `--next`, or, on the last hop,
 * reports to the bench (over IPC) when each job's trip began and how long it took.
 *
 *   node scripts/dist/bench-hop-worker.js --redis <url> --prefix <p> --queue bench.a --next bench.b --concurrency 50
 */
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { createRedisConnection } from '@crm/queue';

export interface HopMessage {
  readonly ready?: true;
  /** For each finished job: [enqueued at (epoch ms), finished at (epoch ms)]. */
  readonly done?: readonly (readonly [number, number])[];
}

const { values } = parseArgs({
  options: { redis: { type: 'string' }, prefix: { type: 'string' }, queue: { type: 'string' }, next: { type: 'string' }, concurrency: { type: 'string', default: '50' } },
});
if (!values.redis || !values.prefix || !values.queue) throw new Error('bench-hop-worker needs --redis, --prefix and --queue');
const { prefix } = values;
const send = (message: HopMessage) => process.send?.(message);

const connection = createRedisConnection({ url: values.redis, role: 'worker', name: `bench-hop-${values.queue}` });
const next = values.next ? new Queue(values.next, { connection, prefix }) : undefined;
let finished: [number, number][] = [];
const worker = new Worker<{ at: number }>(
  values.queue,
  async (job) => {
    if (next) await next.add('hop', job.data, { removeOnComplete: true });
    else finished.push([job.data.at, Date.now()]);
  },
  { connection, prefix, concurrency: Number(values.concurrency) },
);
worker.on('error', () => undefined);
const flush = () => {
  if (finished.length === 0) return;
  send({ done: finished });
  finished = [];
};
const timer = setInterval(flush, 100);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  await worker.close();
  flush();
  await next?.close();
  await connection.quit().catch(() => connection.disconnect());
  process.exit(0);
};
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop());

void worker.waitUntilReady().then(() => send({ ready: true }));
