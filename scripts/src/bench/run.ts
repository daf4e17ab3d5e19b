import type { Redis } from 'ioredis';
import { Client } from 'pg';
import { runBaseline, type PipelineResult } from './baseline';
import { createApiKey, Engine, IngestClient, serviceNames, type ServiceName } from './engine';
import { type Cleanup, createBenchDatabase, createBenchPrefix, durability, machine, memoryUnder, withDatabase, type Durability, type Machine } from './infra';
import { runIngestRates, type BatchIngestRate, type RedisMemory, type SingleIngestRate } from './ingest-rate';
import type { BenchOptions } from './options';
import { runEngineMain, runLatencyAtLoad, type EngineRun, type LatencyAtLoad } from './pipeline';
import { countsBetween, PgCountingProxy, type PgMessageCounts } from './statements';
import { round } from './stats';

export interface StatementsResult {
  readonly n: number;
  readonly method: string;
  /** Per message: Execute + simple Query messages, over every engine process. */
  readonly perMessage: { readonly statements: number; readonly execute: number; readonly simpleQuery: number; readonly roundTrips: number };
  readonly byService: Record<string, { readonly statements: number; readonly execute: number; readonly simpleQuery: number }>;
  /** pg_stat_database xact_commit delta per message (the bench's own progress polls taken off). */
  readonly transactionsPerMessage: number;
  readonly rollbacksPerMessage: number;
}

export interface BenchReport {
  readonly version: 1;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly options: Record<string, unknown>;
  readonly machine: Machine;
  readonly durability: Durability;
  readonly baseline: PipelineResult | null;
  readonly engine: (EngineRun & { readonly ratioToBaseline: number | null; readonly redisBytesHeldPerSentMessage: number }) | null;
  readonly ingest: { readonly single: SingleIngestRate; readonly batch: BatchIngestRate | null } | null;
  readonly redisMemory: RedisMemory | null;
  readonly statements: StatementsResult | null;
  readonly latencyAtLoad: LatencyAtLoad | null;
  /** What the run created and dropped again at its end. */
  readonly resources: { readonly databases: readonly string[]; readonly queuePrefixes: readonly string[] };
}

export interface RunContext {
  readonly root: string;
  readonly baseUrl: string;
  readonly redisUrl: string;
  /** The bench's own Redis connection (never the children's). */
  readonly redis: Redis;
  readonly cleanup: Cleanup;
  /** Variables every child gets besides its configuration. */
  readonly baseEnv: Record<string, string>;
  readonly say: (line: string) => void;
  /** Progress notes (stderr): which processes, database and queue prefix each part uses. */
  readonly note: (line: string) => void;
}

/** One fresh database + queue prefix + engine processes for one part of the run, torn down after it. */
async function withEngine<T>(
  context: RunContext & { readonly resources: { databases: string[]; queuePrefixes: string[] } },
  options: BenchOptions,
  label: string,
  fn: (parts: {
    engine: Engine;
    db: Awaited<ReturnType<typeof createBenchDatabase>>;
    prefix: string;
    client: () => Promise<IngestClient>;
    start: (services: readonly ServiceName[]) => Promise<void>;
  }) => Promise<T>,
  databaseUrlFor?: (databaseName: string) => Promise<Partial<Record<ServiceName, string>>>,
): Promise<T> {
  const { cleanup, resources } = context;
  const db = await createBenchDatabase(context.baseUrl, label, cleanup);
  const { prefix, drop: dropKeys } = createBenchPrefix(context.redis, label, cleanup);
  resources.databases.push(db.name);
  resources.queuePrefixes.push(prefix);
  const apiKey = await createApiKey(db.db);
  const engine = await Engine.create({
    root: context.root,
    baseEnv: context.baseEnv,
    databaseUrl: db.url,
    ...(databaseUrlFor && { databaseUrlFor: await databaseUrlFor(db.name) }),
    redisUrl: context.redisUrl,
    redis: context.redis,
    prefix,
    options,
  });
  const stopEngine = cleanup.add(`stopping the ${label} engine processes`, () => engine.stop());
  const clients: IngestClient[] = [];
  // Registered last, so run first: no request in flight holds up ingest's shutdown.
  const closeClients = cleanup.add('closing the HTTP clients', () => Promise.all(clients.map((client) => client.destroy())));
  try {
    return await fn({
      engine,
      db,
      prefix,
      start: async (services) => {
        await engine.start(services);
        const pids = engine.children.pids().map(([name, pid]) => `${name} ${pid}`).join(', ');
        context.note(`${label}: started ${pids}; database ${db.name}, queue prefix ${prefix}`);
      },
      client: async () => {
        const client = new IngestClient(engine.ingestUrl, options.concurrency, apiKey);
        clients.push(client);
        return client;
      },
    });
  } finally {
    await closeClients();
    await stopEngine();
    await db.drop();
    await dropKeys();
  }
}

/** Transactions committed and rolled back in database `name` so far (pg_stat_database). */
async function transactions(baseUrl: string, name: string): Promise<{ commit: number; rollback: number }> {
  const client = new Client({ connectionString: baseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ c: string; r: string }>('SELECT xact_commit AS c, xact_rollback AS r FROM pg_stat_database WHERE datname = $1', [name]);
    return { commit: Number(rows[0]?.c ?? 0), rollback: Number(rows[0]?.r ?? 0) };
  } finally {
    await client.end();
  }
}

/** Runs every part of the bench not skipped; returns the report (not yet written). */
export async function runBench(options: BenchOptions, runContext: RunContext): Promise<BenchReport> {
  const resources = { databases: [] as string[], queuePrefixes: [] as string[] };
  const context = { ...runContext, resources };
  const { say, cleanup } = context;
  const startedAt = new Date().toISOString();
  const stallMs = options.stallSeconds * 1000;
  const info = { machine: machine(), durability: await durability(context.baseUrl, context.redis) };
  say(`crm-engine bench: N=${options.n}, ${options.concurrency} HTTP connections, WORKER_CONCURRENCY=${options.workerConcurrency}`);
  say(`machine: ${info.machine.cpuModel}, ${info.machine.cores} cores, ${info.machine.ramGiB} GiB RAM, Node ${info.machine.node}, load ${info.machine.loadAverage}`);
  const { postgres: pg, redis: rd } = info.durability;
  say(`durability: PostgreSQL ${pg.version} synchronous_commit=${pg.synchronous_commit} fsync=${pg.fsync}; Redis ${rd.version} appendonly=${rd.appendonly} (appendfsync ${rd.appendfsync}) save="${rd.save}"`);

  let baseline: PipelineResult | null = null;
  if (!options.skip.has('baseline')) {
    const { prefix, drop } = createBenchPrefix(context.redis, 'baseline', cleanup);
    resources.queuePrefixes.push(prefix);
    try {
      baseline = await runBaseline({ redisUrl: context.redisUrl, redis: context.redis, prefix, n: options.n, concurrency: options.workerConcurrency, env: context.baseEnv, stallMs });
    } finally {
      await drop();
    }
  }

  let ingest: BenchReport['ingest'] = null;
  let redisMemory: RedisMemory | null = null;
  if (!options.skip.has('ingest') || !options.skip.has('memory')) {
    const result = await withEngine(context, options, 'ingest', async ({ engine, client, prefix, start }) => {
      await start(['ingest']);
      return runIngestRates({
        client: await client(),
        redis: context.redis,
        prefix,
        n: options.ingestN,
        connections: options.concurrency,
        batchSize: options.batchSize,
        batchConcurrency: options.batchConcurrency,
        measureMemory: !options.skip.has('memory'),
        measureBatch: !options.skip.has('ingest'),
        check: () => engine.check(),
      });
    });
    if (!options.skip.has('ingest')) ingest = { single: result.single, batch: result.batch };
    redisMemory = result.memory;
  }

  const main = await withEngine(context, options, 'engine', async ({ engine, db, client, prefix, start }) => {
    await start(serviceNames);
    const check = () => engine.check();
    const http = await client();
    const run = await runEngineMain({ db: db.db, client: http, n: options.n, concurrency: options.concurrency, stallMs, check });
    const held = await memoryUnder(context.redis, prefix);
    const latency = options.skip.has('latency') ? null : await runLatencyAtLoad({ db: db.db, client: http, offeredRate: options.latencyRate, n: options.latencyN, stallMs, check });
    return { run, latency, redisBytesHeldPerSentMessage: round(held.bytes / options.n) };
  });

  let statements: StatementsResult | null = null;
  if (!options.skip.has('statements')) {
    const target = new URL(context.baseUrl);
    const proxies = new Map<ServiceName, PgCountingProxy>();
    const closeProxies = cleanup.add('closing the PostgreSQL proxies', () => Promise.all([...proxies.values()].map((proxy) => proxy.close())));
    try {
      statements = await withEngine(
        context,
        options,
        'stmts',
        async ({ engine, db, client, start }) => {
          await start(serviceNames);
          await new Promise((resolve) => setTimeout(resolve, 1000));
          const n = options.statementsN;
          const before = new Map([...proxies].map(([service, proxy]) => [service, proxy.snapshot()]));
          const xactBefore = await transactions(context.baseUrl, db.name);
          let polls = 0;
          await runEngineMain({ db: db.db, client: await client(), n, concurrency: options.concurrency, stallMs, check: () => engine.check(), planId: 'bench-statements', label: 'statements pass', onPoll: () => polls++ });
          // Stopped processes have flushed their statistics to pg_stat_database.
          await engine.stop();
          const counts = new Map([...proxies].map(([service, proxy]) => [service, countsBetween(before.get(service) as PgMessageCounts, proxy.snapshot())]));
          await db.db.destroy();
          await new Promise((resolve) => setTimeout(resolve, 700));
          const xactAfter = await transactions(context.baseUrl, db.name);
          const per = (value: number) => round(value / n, 2);
          const total = [...counts.values()].reduce(
            (sum, c) => ({ execute: sum.execute + c.execute, simpleQuery: sum.simpleQuery + c.simpleQuery, roundTrips: sum.roundTrips + c.sync + c.simpleQuery }),
            { execute: 0, simpleQuery: 0, roundTrips: 0 },
          );
          // The bench's own statements in that database: one per progress poll, one reading the results.
          const own = polls + 1;
          return {
            n,
            method: 'frontend protocol messages counted by a TCP proxy in front of PostgreSQL (Execute + simple Query), per message posted; transactions from pg_stat_database.xact_commit',
            perMessage: { statements: per(total.execute + total.simpleQuery), execute: per(total.execute), simpleQuery: per(total.simpleQuery), roundTrips: per(total.roundTrips) },
            byService: Object.fromEntries([...counts].map(([service, c]) => [service, { statements: per(c.execute + c.simpleQuery), execute: per(c.execute), simpleQuery: per(c.simpleQuery) }])),
            transactionsPerMessage: per(xactAfter.commit - xactBefore.commit - own),
            rollbacksPerMessage: per(xactAfter.rollback - xactBefore.rollback),
          };
        },
        async (name) => {
          const urls: Partial<Record<ServiceName, string>> = {};
          for (const service of ['ingest', 'strategy-worker', 'email-worker'] as const) {
            const proxy = new PgCountingProxy({ host: target.hostname, port: Number(target.port || 5432) });
            proxies.set(service, proxy);
            const url = new URL(withDatabase(context.baseUrl, name));
            url.hostname = '127.0.0.1';
            url.port = String(await proxy.listen());
            urls[service] = url.toString();
          }
          return urls;
        },
      );
    } finally {
      await closeProxies();
    }
  }

  const engine = { ...main.run, ratioToBaseline: baseline ? round(main.run.throughput / baseline.throughput, 3) : null, redisBytesHeldPerSentMessage: main.redisBytesHeldPerSentMessage };
  return {
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    options: { ...options, skip: [...options.skip] },
    ...info,
    baseline,
    engine,
    ingest,
    redisMemory,
    statements,
    latencyAtLoad: main.latency,
    resources,
  };
}
