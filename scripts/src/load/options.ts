import { parseArgs } from 'node:util';

/** A whole number option in [min, max]; `fallback` when absent. */
function whole(values: Record<string, string | boolean | undefined>, name: string, fallback: number, min = 1, max = 1_000_000): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}`);
  return Number(raw);
}

export interface LoadOptions {
  readonly start: number;
  readonly step: number;
  readonly stepSeconds: number;
  readonly holdSeconds: number;
  readonly max: number;
  readonly connections: number;
  readonly warmupSeconds: number;
  readonly doc: boolean;
  readonly report: string | undefined;
}

export const loadUsage = `usage: npm run load -- [options]
  --start <rate>            first offered rate, requests/s (default 200)
  --step <rate>             increase per step (default 200)
  --step-seconds <s>        length of each step (default 15)
  --hold-seconds <s>        length of the hold at the highest passing rate (default 60)
  --max <rate>              highest rate tried (default 5000)
  --connections <n>         most keep-alive connections (one per 50 requests/s offered, at most this; default 64)
  --warmup-seconds <s>      unjudged seconds at the start rate before each ramp (default 5; 0: none)
  --doc                     write the load section of docs/reliability.md
  --report <file>           JSON report path (default reports/load-<timestamp>.json)
  --help`;

/** Parses `npm run load`'s command line. */
export function parseLoadOptions(argv: readonly string[]): LoadOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      start: { type: 'string' },
      step: { type: 'string' },
      'step-seconds': { type: 'string' },
      'hold-seconds': { type: 'string' },
      max: { type: 'string' },
      connections: { type: 'string' },
      'warmup-seconds': { type: 'string' },
      doc: { type: 'boolean' },
      report: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const start = whole(values, 'start', 200);
  const max = whole(values, 'max', 5000);
  if (max < start) throw new Error('--max must be at least --start');
  return {
    start,
    step: whole(values, 'step', 200),
    stepSeconds: whole(values, 'step-seconds', 15, 1, 3600),
    holdSeconds: whole(values, 'hold-seconds', 60, 1, 3600),
    max,
    connections: whole(values, 'connections', 64, 1, 10_000),
    warmupSeconds: whole(values, 'warmup-seconds', 5, 0, 600),
    doc: values.doc === true,
    report: values.report,
  };
}

export interface SoakOptions {
  /** Length of the sending phase, in seconds (--minutes × 60, or --seconds). */
  readonly seconds: number;
  readonly rate: number;
  readonly sampleSeconds: number;
  readonly drainTimeoutSeconds: number;
  readonly connections: number;
  readonly workerConcurrency: number | undefined;
  readonly doc: boolean;
  readonly report: string | undefined;
}

export const soakUsage = `usage: npm run soak -- [options]
  --minutes <m>               how long messages are sent (default 10; decimals allowed)
  --seconds <s>               the same in seconds (overrides --minutes)
  --rate <msg/s>              messages per second through the API (default 500)
  --sample-seconds <s>        memory and queue sampling interval (default 10)
  --drain-timeout-seconds <s> longest wait for the backlog to drain after sending (default 300)
  --connections <n>           most keep-alive connections (one per 50 messages/s, at most this; default 64)
  --worker-concurrency <n>    WORKER_CONCURRENCY of the workers (default: the engine's)
  --doc                       write the soak section of docs/reliability.md
  --report <file>             JSON report path (default reports/soak-<timestamp>.json)
  --help`;

/** Parses `npm run soak`'s command line. */
export function parseSoakOptions(argv: readonly string[]): SoakOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      rate: { type: 'string' },
      'sample-seconds': { type: 'string' },
      'drain-timeout-seconds': { type: 'string' },
      connections: { type: 'string' },
      'worker-concurrency': { type: 'string' },
      doc: { type: 'boolean' },
      report: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  let seconds = 600;
  if (values.minutes !== undefined) {
    const minutes = Number(values.minutes);
    if (!/^\d+(\.\d+)?$/.test(values.minutes) || minutes <= 0 || minutes > 24 * 60) throw new Error('--minutes must be a number of minutes above 0');
    seconds = Math.max(1, Math.round(minutes * 60));
  }
  if (values.seconds !== undefined) seconds = whole(values, 'seconds', 600, 1, 86_400);
  return {
    seconds,
    rate: whole(values, 'rate', 500, 1, 100_000),
    sampleSeconds: whole(values, 'sample-seconds', 10, 1, 600),
    drainTimeoutSeconds: whole(values, 'drain-timeout-seconds', 300, 1, 86_400),
    connections: whole(values, 'connections', 64, 1, 10_000),
    workerConcurrency: values['worker-concurrency'] === undefined ? undefined : whole(values, 'worker-concurrency', 50, 1, 1000),
    doc: values.doc === true,
    report: values.report,
  };
}
