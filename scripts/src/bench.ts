/**
 * `npm run bench`: the engine against a raw BullMQ baseline, in one run, on the same Redis and
 * PostgreSQL, every worker in a process of its own. What is measured and how: bench/README.md.
 *
 *   (a) baseline: bench → bench.a → hop 1 → bench.b → hop 2, no-op jobs (bench-hop-worker.js ×2)
 *   (b) engine:   HTTP POST → ingest → crm.requests → strategy-worker → crm.email → email-worker
 *                 → SMTP → sandbox → row `sent` (node services/<name>/dist/main.js ×4)
 *
 * Prints a markdown table and writes the full report to reports/bench-<timestamp>.json.
 * `npm run bench -- --help` lists the options.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readEnvironment } from '@crm/config';
import { createRedisConnection, waitForRedis } from '@crm/queue';
import { Cleanup } from './bench/infra';
import { parseBenchOptions, usage } from './bench/options';
import { markdown } from './bench/report';
import { runBench } from './bench/run';

const root = resolve(__dirname, '..', '..');
let interrupted: NodeJS.Signals | undefined;
const say = (line: string) => process.stdout.write(`${line}\n`);
const warn = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<number> {
  const options = parseBenchOptions(process.argv.slice(2));
  if (options === 'help') {
    say(usage);
    return 0;
  }
  const env = readEnvironment();
  const baseUrl = env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = env.REDIS_URL || 'redis://127.0.0.1:6379';
  const cleanup = new Cleanup();
  const redis = createRedisConnection({ url: redisUrl, role: 'worker', name: 'crm-bench' });
  cleanup.add('closing the bench Redis connection', () => redis.quit());

  // Ctrl-C or SIGTERM: stop the children, drop the databases and keys, then exit. What the
  // interrupted run does meanwhile (it fails as its processes go) no longer decides the exit.
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(signal, () => {
      if (interrupted) process.exit(code);
      interrupted = signal;
      warn(`\n${signal}: stopping the bench's processes and dropping its databases and keys…`);
      void cleanup.run(warn).finally(() => process.exit(code));
    });
  }

  try {
    await waitForRedis(redis);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const reportPath = resolve(options.report ?? join(root, 'reports', `bench-${stamp}.json`));
    const report = await runBench(options, {
      root,
      baseUrl,
      redisUrl,
      redis,
      cleanup,
      baseEnv: { PATH: env.PATH ?? '/usr/bin:/bin' },
      say,
      note: warn,
    });
    mkdirSync(dirname(reportPath), { recursive: true });
    writeFileSync(reportPath, `${JSON.stringify(report, null, 2)}\n`);
    say('');
    say(markdown(report));
    say('');
    say(`report: ${reportPath}`);
    return 0;
  } finally {
    await cleanup.run(warn);
  }
}

main().then(
  (code) => {
    if (!interrupted) process.exit(code);
  },
  (error: unknown) => {
    if (interrupted) return;
    warn(`\nbench failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
