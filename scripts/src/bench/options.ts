import { parseArgs } from 'node:util';

/** The parts of a bench run; `--skip a,b` leaves some out (the engine's main run always runs). */
export const phases = ['baseline', 'ingest', 'memory', 'statements', 'latency'] as const;
export type Phase = (typeof phases)[number];

export interface BenchOptions {
  /** Messages through the baseline and through the engine's main run. */
  readonly n: number;
  /** HTTP connections (requests in flight) used to post the main run and the single-request ingest rate. */
  readonly concurrency: number;
  /** WORKER_CONCURRENCY of the engine's workers, and the concurrency of each baseline hop. */
  readonly workerConcurrency: number;
  /** SMTP_POOL_MAX_CONNECTIONS of the email worker (unset: the engine's default). */
  readonly smtpPool: number | undefined;
  /** DATABASE_POOL_MAX of each engine process (unset: the engine's default). */
  readonly dbPool: number | undefined;
  /** Requests posted one by one, and items posted in batches, for the ingest rates; also K of the Redis memory figure. */
  readonly ingestN: number;
  /** Items per `POST /api/crm/communications/batch`. */
  readonly batchSize: number;
  /** Batch requests in flight at once. */
  readonly batchConcurrency: number;
  /** Messages of the statement-counting pass. */
  readonly statementsN: number;
  /** Offered load (msg/s) of the latency pass, and its messages. */
  readonly latencyRate: number;
  readonly latencyN: number;
  /** Give up when no message has progressed for this long, in seconds. */
  readonly stallSeconds: number;
  /** Where the JSON report goes (default: reports/bench-<timestamp>.json under the repository). */
  readonly report: string | undefined;
  readonly skip: ReadonlySet<Phase>;
}

export const usage = `usage: npm run bench -- [options]
  --n <count>                 messages through the baseline and the engine (default 20000)
  --concurrency <count>       HTTP connections posting requests (default 50)
  --worker-concurrency <n>    WORKER_CONCURRENCY of the engine, and of each baseline hop (default 50)
  --smtp-pool <n>             SMTP_POOL_MAX_CONNECTIONS of the email worker (default: the engine's)
  --db-pool <n>               DATABASE_POOL_MAX of each engine process (default: the engine's)
  --ingest-n <count>          requests for the ingest rates; also K of Redis memory (default 10000)
  --batch-size <count>        items per batch request (default 1000)
  --batch-concurrency <n>     batch requests in flight (default 2)
  --statements-n <count>      messages of the statement-counting pass (default 1000)
  --latency-rate <msg/s>      offered load of the latency pass (default 200)
  --latency-n <count>         messages of the latency pass (default 4000)
  --stall-seconds <s>         fail when nothing progresses for this long (default 120)
  --report <file>             JSON report path (default reports/bench-<timestamp>.json)
  --skip <list>               leave out some of: ${phases.join(', ')}
  --help`;

/** Parses the command line; throws with a message naming the bad option. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      n: { type: 'string' },
      concurrency: { type: 'string' },
      'worker-concurrency': { type: 'string' },
      'smtp-pool': { type: 'string' },
      'db-pool': { type: 'string' },
      'ingest-n': { type: 'string' },
      'batch-size': { type: 'string' },
      'batch-concurrency': { type: 'string' },
      'statements-n': { type: 'string' },
      'latency-rate': { type: 'string' },
      'latency-n': { type: 'string' },
      'stall-seconds': { type: 'string' },
      report: { type: 'string' },
      skip: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const int = (name: keyof typeof values, fallback: number, max = 10_000_000): number => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (typeof raw !== 'string' || !/^\d+$/.test(raw) || value < 1 || value > max) throw new Error(`--${name} must be a whole number from 1 to ${max}`);
    return value;
  };
  const optionalInt = (name: keyof typeof values): number | undefined => (values[name] === undefined ? undefined : int(name, 0));
  const skip = new Set<Phase>();
  for (const part of (values.skip ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(phases as readonly string[]).includes(part)) throw new Error(`--skip: unknown part "${part}" (known: ${phases.join(', ')})`);
    skip.add(part as Phase);
  }
  return {
    n: int('n', 20_000),
    concurrency: int('concurrency', 50, 1000),
    workerConcurrency: int('worker-concurrency', 50, 1000),
    smtpPool: optionalInt('smtp-pool'),
    dbPool: optionalInt('db-pool'),
    ingestN: int('ingest-n', 10_000),
    batchSize: int('batch-size', 1000, 1000),
    batchConcurrency: int('batch-concurrency', 2, 100),
    statementsN: int('statements-n', 1000),
    latencyRate: int('latency-rate', 200, 100_000),
    latencyN: int('latency-n', 4000),
    stallSeconds: int('stall-seconds', 120, 86_400),
    report: values.report,
    skip,
  };
}
