/**
 * `npm run chaos`: sends N communications through the engine (five processes, a database, queue
 * prefix and redis-server of its own) while workers are SIGKILLed, Redis restarts empty,
 * PostgreSQL restarts (only an embedded one of its own, `--pg-restart`) and providers fail; then
 * counts lost, stuck and doubled sends. Exit 1 when the target (0 lost, 0 stuck, duplicates ≤
 * kills during a provider call) is missed. `npm run chaos -- --help` lists the options;
 * docs/reliability.md shows a full run.
 */
import { resolve } from 'node:path';
import { readEnvironment } from '@crm/config';
import { Cleanup } from './bench/infra';
import { parseChaosOptions, usage } from './chaos/options';
import { chaosMarkdown, writeChaosSection } from './chaos/report';
import { runChaos } from './chaos/run';

const root = resolve(__dirname, '..', '..');
let interrupted: NodeJS.Signals | undefined;
const say = (line: string) => process.stdout.write(`${line}\n`);
const warn = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<number> {
  const options = parseChaosOptions(process.argv.slice(2));
  if (options === 'help') {
    say(usage);
    return 0;
  }
  const env = readEnvironment();
  const baseUrl = env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const cleanup = new Cleanup();
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(signal, () => {
      if (interrupted) process.exit(code);
      interrupted = signal;
      warn(`\n${signal}: stopping the chaos run's processes, its Redis and dropping its database…`);
      void cleanup.run(warn).finally(() => process.exit(code));
    });
  }
  try {
    const report = await runChaos(options, { root, baseUrl, baseEnv: { PATH: env.PATH ?? '/usr/bin:/bin' }, cleanup, note: warn });
    if (options.json) say(JSON.stringify(report, null, 2));
    else say(`\n${chaosMarkdown(report)}`);
    if (options.doc) {
      const args = process.argv.slice(2).filter((arg) => arg !== '--doc' && arg !== '--json');
      writeChaosSection(resolve(root, 'docs', 'reliability.md'), report, ['npm run chaos --', ...args].join(' '));
      warn('chaos: docs/reliability.md (chaos section) written');
    }
    if (!report.target.met) warn(`chaos: target missed: ${report.target.misses.join('; ')}`);
    return report.target.met ? 0 : 1;
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
    warn(`\nchaos failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
