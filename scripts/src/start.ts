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
import { ApiKeyRepository, createDatabase, migrateToLatest } from '@crm/db';
import { analyticsWorkerService } from '@crm/analytics-worker';
import { callbackWorkerService } from '@crm/callback-worker';
import { emailWorkerService } from '@crm/email-worker';
import { messagingWorkerService } from '@crm/messaging-worker';
import { ingestService } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { createRuntime, type Runtime } from '@crm/runtime';
import { sandboxOptionsOf, startSandbox, type Sandbox } from '@crm/sandbox';
import { strategyWorkerService } from '@crm/strategy-worker';
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
  // Where the Bull Board password comes from, to say so (it is never printed).
  const operatorPasswordFrom = env.OPERATOR_PASSWORD ? 'OPERATOR_PASSWORD' : `"OPERATOR_PASSWORD" in ${join(dataDir, 'dev-secrets.json')}`;
  if (env.NODE_ENV !== 'production') {
    const secrets = devSecrets(dataDir);
    env.DB_ENCRYPTION_KEY ||= secrets.DB_ENCRYPTION_KEY;
    env.BLIND_INDEX_KEY ||= secrets.BLIND_INDEX_KEY;
    env.OPERATOR_PASSWORD ||= secrets.OPERATOR_PASSWORD;
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
    const sandbox: Sandbox = await startSandbox(sandboxOptionsOf(config, logger.child({ service: 'sandbox' })));
    stops.push(() => sandbox.stop());

    // In sandbox mode the workers talk to the sandbox's SMTP server and its Twilio and WhatsApp
    // stand-ins, wherever they listen.
    const engineConfig: AppConfig =
      config.providerMode === 'sandbox'
        ? {
          ...config,
          smtp: { ...config.smtp, host: sandbox.host, port: sandbox.smtpPort },
          twilio: { ...config.twilio, baseUrl: `${sandbox.httpUrl}/twilio` },
          whatsapp: { ...config.whatsapp, baseUrl: `${sandbox.httpUrl}/whatsapp` },
        }
        : config;
    const runtime: Runtime = createRuntime({ service: 'quickstart', config: engineConfig, logger });
    stops.push(() => runtime.close());
    const ingestUrl = await startEngine(runtime, stops);
    // A fresh API key on every start (keys are stored hashed, so an old one cannot be shown again).
    const { key: apiKey } = await ApiKeyRepository.create(runtime.db(), { name: 'quickstart' });

    say('');
    say('crm-engine is running');
    say(`  ingest API          ${ingestUrl}  (docs/api.md; GET /health, GET /ready, GET /metrics)`);
    say(`  API key             ${apiKey}  (new for this run; more with npm run apikey:create -- --name <name>)`);
    if (config.operator.password === null) say('  dashboard           off (set OPERATOR_PASSWORD, 12+ characters)');
    else {
      say(`  dashboard           ${ingestUrl}/dashboard  (user ${config.operator.username}, password: ${operatorPasswordFrom})`);
      say(`  Bull Board          ${ingestUrl}/admin/queues  (same login)`);
    }
    say(`  sandbox mailbox     ${sandbox.httpUrl}/smtp/messages`);
    say(`  sandbox SMTP        ${sandbox.host}:${sandbox.smtpPort}`);
    say(`  sandbox SMS         ${sandbox.httpUrl}/sms/messages  (Twilio stand-in at ${sandbox.httpUrl}/twilio)`);
    say(`  sandbox WhatsApp    ${sandbox.httpUrl}/whatsapp/messages  (Cloud API stand-in at ${sandbox.httpUrl}/whatsapp)`);
    say(`  PostgreSQL          ${maskUrl(postgres.url)}${postgres.started ? '  (embedded, started by npm start)' : ''}`);
    say(`  Redis               ${maskUrl(redis.url)}${redis.started ? '  (redis-server, started by npm start)' : ''}`);
    say('');
    say('try it:');
    say(`  curl -s ${ingestUrl}/api/crm/communications -H 'authorization: Bearer ${apiKey}' \\`);
    say(`    -H 'content-type: application/json' -d '{"clientId":"client-42","planId":"plan-7","messageType":"welcome","variables":{"clientName":"Ada","eventName":"Summer gala","plannerName":"Grace"},"recipient":{"email":"ada@example.com"}}'`);
    say('');

    if (!args.has('--no-demo')) {
      const ok = await runDemo({ ingestUrl, apiKey, sandbox, db: runtime.db(), say, publicBaseUrl: config.server.publicBaseUrl });
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
  const db = createDatabase({ url: config.database.url, poolMax: 1, applicationName: 'migrate', statementTimeoutMs: config.database.statementTimeoutMs });
  try {
    const { error, results } = await migrateToLatest(db);
    if (error) throw new Error(`migration failed: ${error instanceof Error ? error.message : String(error)}`);
    say(results.length === 0 ? 'database schema is up to date' : `applied migrations: ${results.map((r) => r.migrationName).join(', ')}`);
  } finally {
    await db.destroy();
  }
}

/**
 * Every service of the engine, started in this process on one shared runtime by the same
 * functions their `main.ts` uses. Returns the ingest URL. The workers' ops servers are not
 * started here: one process has one metrics registry, and ingest serves it (with /health and
 * /ready) for all of them.
 */
async function startEngine(runtime: Runtime, stops: (() => Promise<unknown>)[]): Promise<string> {
  let url: string | undefined;
  for (const start of [emailWorkerService, messagingWorkerService, strategyWorkerService, analyticsWorkerService, callbackWorkerService, ingestService]) {
    const started = await start(runtime);
    // `stops` runs newest first; a service's own steps run in their order.
    stops.push(async () => {
      for (const step of started.stop) await step();
    });
    url = started.url ?? url;
  }
  if (!url) throw new Error('ingest did not report its URL');
  return url;
}

void main();
