/**
 * `npm start` — the quickstart. Finds (or starts) PostgreSQL and Redis, migrates, starts every
 * service and the sandbox providers in this one process, sends a demo message and shows that it
 * arrived, then runs until Ctrl-C.
 *
 *   --exit-after-demo   stop everything once the demo message has arrived (exit 1 if it did not)
 *   --no-demo           start the engine without sending the demo message
 *   --data-dir <dir>    where local state goes (embedded PostgreSQL, dev secrets); default .data/
 */
import { join, resolve } from 'node:path';
import { loadConfigOrExit, readEnvironment, type AppConfig } from '@crm/config';
import { createDatabase, migrateToLatest } from '@crm/db';
import { startEmailWorker } from '@crm/email-worker';
import { startIngest, type IngestServer } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { createSmtpTransport } from '@crm/providers';
import { createRuntime, type Runtime } from '@crm/runtime';
import { startSandbox, type Sandbox } from '@crm/sandbox';
import { startStrategyWorker } from '@crm/strategy-worker';
import { devSecrets } from './dev-secrets';
import { ensurePostgres, ensureRedis, maskUrl, type LocalService } from './local-services';
import { runDemo } from './demo';

const argv = process.argv.slice(2);
const args = new Set(argv);
const dataDirArg = argv.indexOf('--data-dir');
const dataDir = resolve(dataDirArg >= 0 && argv[dataDirArg + 1] ? argv[dataDirArg + 1]! : join(__dirname, '..', '..', '.data'));
const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const env = { ...readEnvironment() };
  // The quickstart is for reading, not for logs: warnings only, unless asked.
  env.LOG_LEVEL ||= 'warn';
  if (env.NODE_ENV !== 'production') {
    const secrets = devSecrets(dataDir);
    env.DB_ENCRYPTION_KEY ||= secrets.DB_ENCRYPTION_KEY;
    env.BLIND_INDEX_KEY ||= secrets.BLIND_INDEX_KEY;
  }

  const stops: (() => Promise<unknown>)[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const stop of stops.reverse()) await stop().catch((error: unknown) => say(`  (while stopping: ${String(error)})`));
    })());
  const onSignal = () => {
    if (stopping) process.exit(1);
    say('\nstopping…');
    void stopAll().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const postgres: LocalService = await ensurePostgres(env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres', join(dataDir, 'postgres'), say);
    stops.push(() => postgres.stop());
    const redis: LocalService = await ensureRedis(env.REDIS_URL || 'redis://127.0.0.1:6379', say);
    stops.push(() => redis.stop());
    env.DATABASE_URL = postgres.url;
    env.REDIS_URL = redis.url;
    const config: AppConfig = loadConfigOrExit(env);

    await migrate(config);
    const logger = createLogger({ service: 'quickstart', level: config.log.level, pretty: config.log.pretty });
    const sandbox: Sandbox = await startSandbox({ host: config.sandbox.host, smtpPort: config.sandbox.smtpPort, httpPort: config.sandbox.httpPort, logger: logger.child({ service: 'sandbox' }) });
    stops.push(() => sandbox.stop());

    const runtime: Runtime = createRuntime({ service: 'quickstart', config, logger });
    stops.push(() => runtime.close());
    const ingest = await startEngine(runtime, sandbox, stops);

    say('');
    say('crm-engine is running');
    say(`  ingest API          ${ingest.url}  (POST /api/crm/communications, GET /health, GET /ready)`);
    say(`  sandbox mailbox     ${sandbox.httpUrl}/smtp/messages`);
    say(`  sandbox SMTP        ${sandbox.host}:${sandbox.smtpPort}`);
    say(`  PostgreSQL          ${maskUrl(postgres.url)}${postgres.started ? '  (embedded, started by npm start)' : ''}`);
    say(`  Redis               ${maskUrl(redis.url)}${redis.started ? '  (redis-server, started by npm start)' : ''}`);
    say('');

    if (!args.has('--no-demo')) {
      const ok = await runDemo({ ingestUrl: ingest.url, sandbox, db: runtime.db(), say });
      if (args.has('--exit-after-demo')) {
        await stopAll();
        process.exit(ok ? 0 : 1);
      }
    }
    say('Press Ctrl-C to stop.');
  } catch (error) {
    say(`\nnpm start failed: ${error instanceof Error ? error.message : String(error)}`);
    await stopAll();
    process.exit(1);
  }
}

async function migrate(config: AppConfig): Promise<void> {
  const db = createDatabase({ url: config.database.url, poolMax: 1, applicationName: 'migrate' });
  try {
    const { error, results } = await migrateToLatest(db);
    if (error) throw new Error(`migration failed: ${error instanceof Error ? error.message : String(error)}`);
    say(results.length === 0 ? 'database schema is up to date' : `applied migrations: ${results.map((r) => r.migrationName).join(', ')}`);
  } finally {
    await db.destroy();
  }
}

/** Every service of the engine, in this process, sharing one runtime. */
async function startEngine(runtime: Runtime, sandbox: Sandbox, stops: (() => Promise<unknown>)[]): Promise<IngestServer> {
  const { config, logger } = runtime;
  const db = runtime.db();
  const producer = await runtime.producer();
  const connection = runtime.workerConnection();
  const prefix = config.redis.queuePrefix;
  const keys = { encryptionKey: config.security.dbEncryptionKey, blindIndexKey: config.security.blindIndexKey };

  // In sandbox mode the email worker talks to the sandbox's SMTP server, wherever it listens.
  const smtp = config.providerMode === 'sandbox' ? { ...config.smtp, host: sandbox.host, port: sandbox.smtpPort } : config.smtp;
  const transport = createSmtpTransport(smtp);
  stops.push(() => transport.close());
  const emailWorker = startEmailWorker({ db, transport, keys, logger: logger.child({ service: 'email-worker' }), connection, prefix });
  stops.push(() => emailWorker.close());
  const strategyWorker = startStrategyWorker({ db, producer, logger: logger.child({ service: 'strategy-worker' }), connection, prefix });
  stops.push(() => strategyWorker.close());
  const ingest = await startIngest(
    { db, producer, keys, logger: logger.child({ service: 'ingest' }), redisPing: () => connection.ping(), bodyLimitBytes: config.server.bodyLimitBytes },
    { host: config.server.host, port: config.server.port },
  );
  stops.push(() => ingest.close());
  return ingest;
}

void main();
