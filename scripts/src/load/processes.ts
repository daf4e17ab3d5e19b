import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ChildGroup, freePort, sleep, waitUntil } from '../bench/children';
import type { Cleanup } from '../bench/infra';

/** The engine's processes that `npm run load` and `npm run soak` start. */
export const engineServices = ['sandbox', 'email-worker', 'messaging-worker', 'strategy-worker', 'analytics-worker', 'callback-worker', 'ingest'] as const;
export type EngineService = (typeof engineServices)[number];

export interface LoadEngineOptions {
  /** Repository root (services/<name>/dist/main.js live under it). */
  readonly root: string;
  /** Variables every child gets (PATH, and overrides of the engine's settings). */
  readonly baseEnv: Record<string, string>;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly prefix: string;
}

/**
 * The engine as production runs it, as the bench starts it (`node services/<name>/dist/main.js`,
 * configured by environment only, `--require orphan-guard.js`), with one more thing: each worker's
 * ops server (`/health`, `/ready`, `/metrics`) on a port chosen here, so its process metrics can
 * be read. Ingest serves them on its own port.
 */
type Ports = Record<'ingest' | 'smtp' | 'http', number> & { readonly ops: Record<EngineService, number> };

export class LoadEngine {
  readonly children = new ChildGroup();
  readonly #props: LoadEngineOptions;
  readonly #ports: Ports;
  readonly #keys = { encryption: randomBytes(32).toString('hex'), blindIndex: randomBytes(32).toString('hex') };
  readonly #pids = new Map<EngineService, number>();

  private constructor(props: LoadEngineOptions, ports: Ports) {
    this.#props = props;
    this.#ports = ports;
  }

  static async create(props: LoadEngineOptions): Promise<LoadEngine> {
    const picked = new Set<number>();
    const pick = async (): Promise<number> => {
      for (;;) {
        const port = await freePort();
        if (!picked.has(port)) {
          picked.add(port);
          return port;
        }
      }
    };
    const ingest = await pick();
    const ops = { ingest } as Record<EngineService, number>;
    for (const service of engineServices) if (service !== 'ingest') ops[service] = await pick();
    return new LoadEngine(props, { ingest, smtp: await pick(), http: await pick(), ops });
  }

  get ingestUrl(): string {
    return `http://127.0.0.1:${this.#ports.ingest}`;
  }

  get sandboxUrl(): string {
    return `http://127.0.0.1:${this.#ports.http}`;
  }

  /** Where `service` serves /metrics (ingest: its API port; the others: their ops server). */
  metricsUrl(service: EngineService): string {
    return `http://127.0.0.1:${this.#ports.ops[service]}/metrics`;
  }

  /** The pid of a started service. */
  pid(service: EngineService): number | undefined {
    return this.#pids.get(service);
  }

  /** The whole environment of one service's process. */
  env(service: EngineService): Record<string, string> {
    return {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      // What the bench sets too: the run measures the pipeline, not the clock (at night, quiet
      // hours and send windows would postpone every message to the morning).
      DEFAULT_QUIET_HOURS: 'off',
      EMAIL_SEND_WINDOW: 'off',
      SMS_SEND_WINDOW: 'off',
      WHATSAPP_SEND_WINDOW: 'off',
      ...this.#props.baseEnv,
      DATABASE_URL: this.#props.databaseUrl,
      REDIS_URL: this.#props.redisUrl,
      QUEUE_PREFIX: this.#props.prefix,
      HOST: '127.0.0.1',
      PORT: String(this.#ports.ingest),
      OPS_PORT: String(this.#ports.ops[service]),
      PUBLIC_BASE_URL: this.ingestUrl,
      DB_ENCRYPTION_KEY: this.#keys.encryption,
      BLIND_INDEX_KEY: this.#keys.blindIndex,
      PROVIDER_MODE: 'sandbox',
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(this.#ports.smtp),
      TWILIO_BASE_URL: `${this.sandboxUrl}/twilio`,
      WHATSAPP_BASE_URL: `${this.sandboxUrl}/whatsapp`,
      SANDBOX_HOST: '127.0.0.1',
      SANDBOX_SMTP_PORT: String(this.#ports.smtp),
      SANDBOX_HTTP_PORT: String(this.#ports.http),
    };
  }

  /** Starts `services` in the order given and waits until each answers its health check. */
  async start(services: readonly EngineService[]): Promise<void> {
    for (const service of services) {
      const child = this.children.start(service, join(this.#props.root, 'services', service, 'dist', 'main.js'), { env: this.env(service) });
      if (child.process.pid !== undefined) this.#pids.set(service, child.process.pid);
    }
    const check = () => this.children.check();
    await Promise.all(
      services.map((service) => {
        const url = service === 'ingest' ? `${this.ingestUrl}/ready` : `http://127.0.0.1:${this.#ports.ops[service]}/ready`;
        return waitUntil(async () => (await fetch(url)).status === 200, { what: `${service} to be ready`, check, timeoutMs: 60_000 });
      }),
    );
  }

  stop(): Promise<void> {
    return this.children.stop();
  }

  check(): void {
    this.children.check();
  }
}

/** One process's memory at one moment. */
export interface ProcessMemory {
  /** VmRSS of /proc/<pid>/status, in bytes. */
  readonly rssBytes: number | null;
  /** `nodejs_heap_size_used_bytes` of the process's /metrics. */
  readonly heapUsedBytes: number | null;
}

/** VmRSS of a process, in bytes (Linux /proc); null where /proc is not readable. */
export async function residentBytes(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** One metric's value (no labels) from a Prometheus text exposition. */
export function metricValue(text: string, name: string): number | null {
  const match = new RegExp(`^${name}(?:\\{\\})? ([0-9.eE+-]+)`, 'm').exec(text);
  return match ? Number(match[1]) : null;
}

/** RSS (/proc) and used heap (/metrics) of one process. */
export async function processMemory(pid: number, metricsUrl: string): Promise<ProcessMemory> {
  const [rssBytes, heapUsedBytes] = await Promise.all([
    residentBytes(pid),
    fetch(metricsUrl, { signal: AbortSignal.timeout(5_000) })
      .then(async (response) => (response.ok ? metricValue(await response.text(), 'nodejs_heap_size_used_bytes') : null))
      .catch(() => null),
  ]);
  return { rssBytes, heapUsedBytes };
}

/** A redis-server of the run's own (loopback, nothing on disk, as the shared one is configured). */
export interface OwnRedis {
  readonly url: string;
  /** The run's own connection to it. */
  readonly redis: Redis;
  readonly pid: number;
}

/**
 * Starts `redis-server` from PATH on a free port with `--save '' --appendonly no`, so that its
 * `used_memory` is the run's alone; its stop is registered with `cleanup`. Null when there is no
 * redis-server on PATH.
 */
export async function startOwnRedis(cleanup: Cleanup, env: Record<string, string>): Promise<OwnRedis | null> {
  cleanup.ensureOpen();
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore', env });
  const spawned = await new Promise<boolean>((resolve) => {
    child.once('spawn', () => resolve(true));
    child.once('error', () => resolve(false));
  });
  if (!spawned || child.pid === undefined) return null;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stopServer = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000).then(() => child.kill('SIGKILL'))]);
    }
  };
  process.on('exit', () => child.kill('SIGKILL'));
  const url = `redis://127.0.0.1:${port}`;
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null, connectionName: 'crm-load' });
  redis.on('error', () => undefined);
  cleanup.add(`stopping redis-server on ${port}`, async () => {
    redis.disconnect();
    await stopServer();
  });
  await redis.connect().catch(() => undefined);
  await waitUntil(async () => (await redis.ping()) === 'PONG', { what: `redis-server on ${port}`, timeoutMs: 10_000 });
  return { url, redis, pid: child.pid };
}
