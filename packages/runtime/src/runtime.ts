import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { StrategySettings } from '@crm/core';
import { loadConfigOrExit, type AppConfig } from '@crm/config';
import { createDatabase, type Database, type PiiKeys } from '@crm/db';
import { createLogger, watchQueues, type Logger } from '@crm/observability';
import { createRedisConnection, onShutdown, QueueProducer, waitForRedis } from '@crm/queue';
import { startOpsServer } from './ops-server';

/**
 * The shared infrastructure of a process: config, logger, and PostgreSQL and Redis
 * connections created on first use. One runtime serves one service in production, or every
 * service at once in the quickstart.
 */
export interface Runtime {
  readonly config: AppConfig;
  readonly logger: Logger;
  /** The keys that encrypt and index personal data, from `config.security`. */
  readonly keys: PiiKeys;
  /** The PostgreSQL pool. */
  db(): Kysely<Database>;
  /** The Redis connection BullMQ workers share (blocking commands, retried forever). */
  workerConnection(): Redis;
  /**
   * A producer of jobs over a fail-fast connection, connected before it is returned. Its queues'
   * job counts are reported in `crm_queue_jobs` at each scrape of this process's metrics.
   */
  producer(): Promise<QueueProducer>;
  /** Closes whatever was opened: producer, Redis connections, then the pool. */
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Service name, on every log line and on the connections. */
  readonly service: string;
  readonly config: AppConfig;
  /** @defaultValue a logger from config.log */
  readonly logger?: Logger;
}

/**
 * @example
 * const runtime = createRuntime({ service: 'ingest', config });
 * const app = buildApp({ db: runtime.db(), producer: await runtime.producer(), logger: runtime.logger });
 */
export function createRuntime(options: RuntimeOptions): Runtime {
  const { service, config } = options;
  const logger = options.logger ?? createLogger({ service, level: config.log.level, pretty: config.log.pretty });
  let db: Kysely<Database> | undefined;
  let workerConnection: Redis | undefined;
  let producerConnection: Redis | undefined;
  let producer: Promise<QueueProducer> | undefined;
  let unwatchQueues: (() => void) | undefined;

  return {
    config,
    logger,
    keys: Object.freeze({
      encryptionKey: config.security.dbEncryptionKey,
      blindIndexKey: config.security.blindIndexKey,
      previousEncryptionKeys: config.security.previousEncryptionKeys,
    }),
    db() {
      db ??= createDatabase({
        url: config.database.url,
        poolMax: config.database.poolMax,
        statementTimeoutMs: config.database.statementTimeoutMs,
        applicationName: service,
      });
      return db;
    },
    workerConnection() {
      workerConnection ??= createRedisConnection({ url: config.redis.url, role: 'worker', name: service });
      return workerConnection;
    },
    producer() {
      producer ??= (async () => {
        producerConnection = createRedisConnection({ url: config.redis.url, role: 'producer', name: `${service}-producer` });
        await waitForRedis(producerConnection);
        const created = new QueueProducer({ connection: producerConnection, prefix: config.redis.queuePrefix });
        // The queues' job counts go into crm_queue_jobs at each scrape of this process.
        unwatchQueues = watchQueues(created.allQueues());
        return created;
      })();
      return producer;
    },
    async close() {
      unwatchQueues?.();
      if (producer) await (await producer.catch(() => undefined))?.close();
      for (const connection of [producerConnection, workerConnection]) {
        if (connection && connection.status !== 'end') await connection.quit().catch(() => connection.disconnect());
      }
      await db?.destroy();
    },
  };
}

/** A started service: the steps that stop it, run in order on shutdown, and its URL if it serves HTTP. */
export interface StartedService {
  readonly stop: readonly (() => Promise<unknown>)[];
  readonly url?: string;
}

/**
 * Starts one service on a runtime. Each service exports one; its `main.ts` hands it to
 * {@link runService}, and the quickstart calls every one on a shared runtime.
 */
export type ServiceStart = (runtime: Runtime) => Promise<StartedService>;

export interface RunServiceOptions {
  /**
   * Start the ops HTTP server ({@link startOpsServer}: `/health`, `/ready`, `/metrics`) on
   * `HOST:OPS_PORT`. Off for ingest, which serves the same routes on its own port.
   * @defaultValue true
   */
  readonly opsServer?: boolean;
}

/**
 * The body of a service's `main.ts`: reads the config (exiting with the list of problems if it
 * is bad), starts the service and (unless `options.opsServer` is false) its ops server on
 * `HOST:OPS_PORT`, logs the addresses, and on SIGTERM/SIGINT closes the ops server, runs the
 * service's stop steps, then closes the runtime's connections. A failure to start is logged at
 * `fatal` and the process exits 1.
 *
 * @example
 * runService('strategy-worker', strategyWorkerService);
 * runService('ingest', ingestService, { opsServer: false });
 */
export function runService(service: string, start: ServiceStart, options: RunServiceOptions = {}): void {
  const config = loadConfigOrExit();
  const runtime = createRuntime({ service, config });
  void (async () => {
    let started: StartedService | undefined;
    try {
      started = await start(runtime);
      const connection = runtime.workerConnection();
      const ops =
        options.opsServer === false
          ? null
          : await startOpsServer({ host: config.server.host, port: config.ops.port, logger: runtime.logger, db: runtime.db(), redisPing: () => connection.ping() });
      onShutdown([...(ops ? [() => ops.close()] : []), ...started.stop, () => runtime.close()], { logger: runtime.logger });
      runtime.logger.info({ ...(started.url && { url: started.url }), ...(ops && { opsUrl: ops.url }) }, 'started');
    } catch (error) {
      runtime.logger.fatal({ err: error instanceof Error ? { name: error.name, message: error.message } : String(error) }, 'failed to start');
      for (const step of started?.stop ?? []) await step().catch(() => undefined);
      await runtime.close().catch(() => undefined);
      process.exit(1);
    }
  })();
}

/**
 * The strategy's settings from the config: DEFAULT_CHANNELS and DEFAULT_TIMEZONE, quiet hours,
 * send windows and frequency caps, and BatchConfig (used by the strategy worker and ingest's
 * dry run, so both decide alike).
 */
export function strategySettingsOf(config: Pick<AppConfig, 'strategy' | 'batch'>): StrategySettings {
  return { defaults: config.strategy.defaults, timing: config.strategy.timing, digest: config.batch };
}
