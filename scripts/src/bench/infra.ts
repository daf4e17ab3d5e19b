import { randomBytes } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { Client } from 'pg';
import { createDatabase, migrateToLatest, type Database } from '@crm/db';
import { keysUnder } from '@crm/queue';

/**
 * Cleanup steps that must run however the bench ends (error, Ctrl-C): children, databases, keys.
 * Once {@link Cleanup.run} has begun (an interrupt), the run is over: whatever is still being
 * created is awaited (see {@link Cleanup.track}) and a step added late runs at once.
 */
export class Cleanup {
  readonly #steps = new Map<number, { what: string; step: () => Promise<unknown> }>();
  readonly #pending = new Set<Promise<unknown>>();
  #next = 0;
  #closed = false;

  /** True once cleanup has begun: the run must not create anything more. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Throws if cleanup has begun (call before creating something). */
  ensureOpen(): void {
    if (this.#closed) throw new Error('the bench was interrupted');
  }

  /** Registers `step`; returns a function that runs it now (once) and unregisters it. */
  add(what: string, step: () => Promise<unknown>): () => Promise<void> {
    if (this.#closed) {
      this.track(step());
      return async () => undefined;
    }
    const id = this.#next++;
    this.#steps.set(id, { what, step });
    return async () => {
      if (!this.#steps.delete(id)) return;
      await step();
    };
  }

  /** Makes {@link Cleanup.run} wait for `operation` (e.g. a CREATE DATABASE in flight), whose cleanup is added when it ends. */
  track<T>(operation: Promise<T>): Promise<T> {
    const settled = operation.then(
      () => undefined,
      () => undefined,
    );
    this.#pending.add(settled);
    void settled.then(() => this.#pending.delete(settled));
    return operation;
  }

  /** Runs every step still registered, newest first, then whatever is still in flight; reports failures and goes on. */
  async run(report: (line: string) => void): Promise<void> {
    this.#closed = true;
    const steps = [...this.#steps.values()].reverse();
    this.#steps.clear();
    for (const { what, step } of steps) {
      try {
        await step();
      } catch (error) {
        report(`cleanup: ${what} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
}

/** A database made for one part of the run, migrated, with the bench's own pool on it. */
export interface BenchDatabase {
  readonly name: string;
  readonly url: string;
  readonly db: Kysely<Database>;
}

/** `url` with its database name replaced. */
export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

async function adminQuery(baseUrl: string, statement: string): Promise<void> {
  const client = new Client({ connectionString: baseUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * A fresh database (as `createTestDatabase` makes one), migrated with the engine's migrations.
 * Its drop is registered with `cleanup`; the returned function drops it at once.
 */
export async function createBenchDatabase(baseUrl: string, label: string, cleanup: Cleanup): Promise<BenchDatabase & { drop: () => Promise<void> }> {
  cleanup.ensureOpen();
  const name = `crm_bench_${label}_${randomBytes(4).toString('hex')}`;
  await cleanup.track(adminQuery(baseUrl, `CREATE DATABASE ${name} TEMPLATE template0`));
  const url = withDatabase(baseUrl, name);
  const db = createDatabase({ url, poolMax: 2, applicationName: 'crm-bench' });
  const drop = cleanup.add(`dropping database ${name}`, async () => {
    await db.destroy().catch(() => undefined);
    await adminQuery(baseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
  const { error } = await migrateToLatest(db);
  if (error) {
    await drop();
    throw error instanceof Error ? error : new Error(String(error));
  }
  return { name, url, db, drop };
}

/** A fresh queue prefix; deleting its keys is registered with `cleanup`. */
export function createBenchPrefix(redis: Redis, label: string, cleanup: Cleanup): { prefix: string; drop: () => Promise<void> } {
  cleanup.ensureOpen();
  const prefix = `crm-bench-${randomBytes(4).toString('hex')}-${label}`;
  const drop = cleanup.add(`deleting Redis keys ${prefix}:*`, () => deleteKeys(redis, prefix));
  return { prefix, drop };
}

export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(redis, prefix);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
}

/** Bytes Redis reports for every key under `prefix:` (MEMORY USAGE, exact: SAMPLES 0). */
export async function memoryUnder(redis: Redis, prefix: string): Promise<{ keys: number; bytes: number }> {
  const keys = await keysUnder(redis, prefix);
  let bytes = 0;
  for (let i = 0; i < keys.length; i += 1000) {
    const pipeline = redis.pipeline();
    for (const key of keys.slice(i, i + 1000)) pipeline.memory('USAGE', key, 'SAMPLES', 0);
    for (const [error, value] of (await pipeline.exec()) ?? []) if (!error) bytes += Number(value ?? 0);
  }
  return { keys: keys.length, bytes };
}

/** Redis `INFO memory` used_memory, in bytes. */
export async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  const match = /^used_memory:(\d+)/m.exec(info);
  if (!match) throw new Error('INFO memory has no used_memory');
  return Number(match[1]);
}

export interface Durability {
  readonly postgres: { readonly version: string; readonly synchronous_commit: string; readonly fsync: string; readonly wal_sync_method: string };
  readonly redis: { readonly version: string; readonly appendonly: string; readonly appendfsync: string; readonly save: string };
}

/** The settings that decide what a crash can lose, as they are in force. */
export async function durability(baseUrl: string, redis: Redis): Promise<Durability> {
  const client = new Client({ connectionString: baseUrl });
  await client.connect();
  try {
    const show = async (name: string) => String((await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name] ?? '?');
    const config = async (name: string) => {
      const pair = (await redis.config('GET', name)) as string[];
      return pair[1] ?? '?';
    };
    const server = await redis.info('server');
    return {
      postgres: { version: await show('server_version'), synchronous_commit: await show('synchronous_commit'), fsync: await show('fsync'), wal_sync_method: await show('wal_sync_method') },
      redis: { version: /^redis_version:(\S+)/m.exec(server)?.[1] ?? '?', appendonly: await config('appendonly'), appendfsync: await config('appendfsync'), save: await config('save') },
    };
  } finally {
    await client.end();
  }
}

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly ramGiB: number;
  readonly node: string;
  readonly platform: string;
  /** 1-minute load average when the run started (other work on the machine skews the figures). */
  readonly loadAverage: number;
}

export function machine(): Machine {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}
