import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { HopMessage } from '../bench-hop-worker';
import { ChildGroup, waitUntil } from './children';
import { Progress } from './progress';
import { rate, summarize, type Latency } from './stats';

export interface PipelineResult {
  readonly n: number;
  /** Messages per second. */
  readonly throughput: number;
  /** How `throughput` was measured. */
  readonly throughputMethod: string;
  readonly latencyMs: Latency;
  readonly latencyMethod: string;
}

export interface BaselineOptions {
  readonly redisUrl: string;
  /** A producer-side connection of the bench (not used by the children). */
  readonly redis: Redis;
  readonly prefix: string;
  readonly n: number;
  readonly concurrency: number;
  readonly env: Record<string, string>;
  readonly stallMs: number;
}

/**
 * (a) The raw BullMQ baseline: a two-hop pipeline of no-op jobs, each hop a process of its own
 * (`bench-hop-worker.js`): bench → bench.a → hop 1 → bench.b → hop 2.
 */
export async function runBaseline(options: BaselineOptions): Promise<PipelineResult> {
  const { n, prefix } = options;
  const children = new ChildGroup();
  const hop = join(__dirname, '..', 'bench-hop-worker.js');
  const common = ['--redis', options.redisUrl, '--prefix', prefix, '--concurrency', String(options.concurrency)];
  const done: (readonly [number, number])[] = [];
  let ready = 0;
  const onMessage = (message: HopMessage) => {
    if (message.ready) ready++;
    if (message.done) done.push(...message.done);
  };
  const first = new Queue('bench.a', { connection: options.redis, prefix });
  try {
    children.start('hop 1', hop, { env: options.env, args: [...common, '--queue', 'bench.a', '--next', 'bench.b'] }).process.on('message', onMessage);
    children.start('hop 2', hop, { env: options.env, args: [...common, '--queue', 'bench.b'] }).process.on('message', onMessage);
    await waitUntil(async () => ready === 2, { what: 'the baseline hop workers', check: () => children.check() });

    const progress = new Progress('baseline (2 processes)', n);
    const started = Date.now();
    for (let i = 0; i < n; i += 1000) {
      const at = Date.now();
      await first.addBulk(Array.from({ length: Math.min(1000, n - i) }, () => ({ name: 'a', data: { at }, opts: { removeOnComplete: true } })));
    }
    let last = { count: 0, at: Date.now() };
    await waitUntil(
      async () => {
        progress.update(done.length);
        if (done.length !== last.count) last = { count: done.length, at: Date.now() };
        else if (Date.now() - last.at > options.stallMs) throw new Error(`baseline stalled at ${done.length}/${n}`);
        return done.length >= n;
      },
      { what: 'the baseline to finish', timeoutMs: Number.MAX_SAFE_INTEGER, check: () => children.check(), intervalMs: 50 },
    );
    progress.stop();
    const finished = Math.max(...done.map(([, end]) => end));
    return {
      n,
      throughput: rate(n, finished - started),
      throughputMethod: 'N / (last job finished at hop 2 − first job added), wall clock',
      latencyMs: summarize(done.map(([at, end]) => end - at)),
      latencyMethod: 'added to bench.a → processed at hop 2',
    };
  } finally {
    await children.stop();
    await first.close();
  }
}
