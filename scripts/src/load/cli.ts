import { readEnvironment } from '@crm/config';
import { createRedisConnection, waitForRedis } from '@crm/queue';
import type { Redis } from 'ioredis';
import { Cleanup } from '../bench/infra';
import { startOwnRedis } from './processes';

export const say = (line: string): void => void process.stdout.write(`${line}\n`);
export const warn = (line: string): void => void process.stderr.write(`${line}\n`);

/** What an entry point gets: where PostgreSQL is, its own Redis, and the cleanup of the run. */
export interface RunEnvironment {
  readonly baseUrl: string;
  readonly redisUrl: string;
  readonly redis: Redis;
  /** True when the run has a redis-server of its own (its used_memory is the run's alone). */
  readonly ownRedis: boolean;
  readonly cleanup: Cleanup;
  readonly path: string;
}

/**
 * Runs `body` as the bench runs: everything it creates is registered with a {@link Cleanup}
 * that runs however it ends; Ctrl-C or SIGTERM stops the children, drops the database and
 * exits 130/143. The run gets a redis-server of its own when one is on PATH (else REDIS_URL's).
 */
export function runMain(name: string, body: (env: RunEnvironment) => Promise<number>): void {
  let interrupted: NodeJS.Signals | undefined;
  const cleanup = new Cleanup();
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(signal, () => {
      if (interrupted) process.exit(code);
      interrupted = signal;
      warn(`\n${signal}: stopping the ${name} run's processes and dropping its database…`);
      void cleanup.run(warn).finally(() => process.exit(code));
    });
  }
  const main = async (): Promise<number> => {
    const env = readEnvironment();
    const baseUrl = env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
    const path = env.PATH ?? '/usr/bin:/bin';
    try {
      const own = await startOwnRedis(cleanup, { PATH: path });
      let redisUrl: string;
      let redis: Redis;
      if (own) {
        redisUrl = own.url;
        redis = own.redis;
      } else {
        redisUrl = env.REDIS_URL || 'redis://127.0.0.1:6379';
        redis = createRedisConnection({ url: redisUrl, role: 'worker', name: `crm-${name}` });
        cleanup.add('closing the Redis connection', () => redis.quit());
        await waitForRedis(redis);
      }
      return await body({ baseUrl, redisUrl, redis, ownRedis: own !== null, cleanup, path });
    } finally {
      await cleanup.run(warn);
    }
  };
  main().then(
    (code) => {
      if (!interrupted) process.exit(code);
    },
    (error: unknown) => {
      if (interrupted) return;
      warn(`\n${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exit(1);
    },
  );
}
